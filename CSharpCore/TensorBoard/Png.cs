using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Functional.TensorBoard;

/// <summary>Encodes 8-bit grayscale or RGB images as PNG (for TensorBoard's image summaries).</summary>
static class Png
{
    /// <summary>A PNG of <paramref name="height"/> x <paramref name="width"/> pixels with
    /// <paramref name="channels"/> (1 or 3) bytes each, row-major.</summary>
    public static byte[] Encode(byte[] pixels, int height, int width, int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "PNG images here have 1 or 3 channels.");
        if (pixels.Length != height * width * channels) throw new ArgumentException("Pixel count does not match the size.", nameof(pixels));
        using var output = new MemoryStream();
        output.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;                                  // bit depth
        header[9] = (byte)(channels == 1 ? 0 : 2);      // grayscale or truecolour
        Chunk(output, "IHDR", header);
        using (var raw = new MemoryStream())
        {
            using (var zlib = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
                for (int row = 0; row < height; row++)
                {
                    zlib.WriteByte(0);                  // filter: none
                    zlib.Write(pixels, row * width * channels, width * channels);
                }
            Chunk(output, "IDAT", raw.ToArray());
        }
        Chunk(output, "IEND", []);
        return output.ToArray();
    }

    static void Chunk(Stream output, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        output.Write(length);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        output.Write(typeBytes);
        output.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(length, Crc32.Png.Of(typeBytes.Concat(data)));
        output.Write(length);
    }
}
