using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Datasets;

/// <summary>
/// Reads IDX files (the format MNIST is distributed in), optionally gzip-compressed: a
/// big-endian header (0, 0, type, rank, then rank sizes) followed by the values.
/// Only unsigned bytes (type 0x08) are supported.
/// </summary>
public static class Idx
{
    /// <summary>The file as a uint8 tensor of the shape its header gives.</summary>
    /// <exception cref="InvalidDataException">The file is not IDX, not bytes, or shorter than its header says (the message names the file).</exception>
    public static Tensor Read(string path)
    {
        using var file = File.OpenRead(path);
        return Read(file, path, compressed: path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The IDX data in <paramref name="stream"/> (gzip-compressed when
    /// <paramref name="compressed"/>) as a uint8 tensor; <paramref name="name"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">The data is not IDX, not bytes, or shorter than its header says (the message names it).</exception>
    public static Tensor Read(Stream stream, string name, bool compressed)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using Stream data = compressed ? new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true) : stream;
        try
        {
            return ReadTensor(data, name);
        }
        catch (InvalidDataException e) when (!e.Message.Contains(name))
        {
            throw new InvalidDataException($"{name}: {e.Message}", e);
        }
    }

    static Tensor ReadTensor(Stream stream, string path)
    {
        var magic = ReadExactly(stream, 4, path);
        if (magic[0] != 0 || magic[1] != 0 || magic[3] is 0 or > 8)
            throw new InvalidDataException($"{path} is not an IDX file (bad magic number).");
        if (magic[2] != 0x08)
            throw new InvalidDataException($"{path} holds IDX type 0x{magic[2]:x2}; only unsigned bytes (0x08) are supported.");
        var shape = new long[magic[3]];
        for (int i = 0; i < shape.Length; i++)
        {
            var b = ReadExactly(stream, 4, path);
            shape[i] = (long)(uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
        }
        long count = shape.Aggregate(1L, (a, d) => a * d);
        var data = ReadExactly(stream, checked((int)count), path);
        var tensor = torch.empty(shape, ScalarType.Byte);
        data.CopyTo(tensor.bytes);
        return tensor;
    }

    static byte[] ReadExactly(Stream stream, int count, string path)
    {
        var buffer = new byte[count];
        int read = 0;
        while (read < count)
        {
            int n = stream.Read(buffer, read, count - read);
            if (n == 0) throw new InvalidDataException($"{path} ends after {read} of {count} expected bytes (truncated).");
            read += n;
        }
        return buffer;
    }
}
