using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using Functional.Trees;
using Functional.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Persistence;

/// <summary>
/// Reads and writes the safetensors format (as PyTorch's and Hugging Face's readers do): an
/// 8-byte little-endian header length, a JSON header mapping each tensor's name to its dtype,
/// shape and byte offsets (plus an optional "__metadata__" map of strings), then the data,
/// little-endian and row-major, with no holes. Tree paths are the tensor names.
/// </summary>
/// <remarks>Loading trusts nothing: a header that lies about sizes or offsets, overlapping or
/// missing bytes, an unknown dtype, a truncated file — each is an <see cref="InvalidDataException"/>
/// naming the file, never an out-of-range read. Saving is atomic: a temporary file is written,
/// flushed and renamed over the target, so a crash never leaves a half-written file behind. Files
/// written here carry an XxHash128 of their data in the metadata (<see cref="ChecksumKey"/>), so
/// flipped bytes in the data are detected too.</remarks>
public static class SafeTensors
{
    /// <summary>Largest header accepted (100 MB, as the reference implementation).</summary>
    public const long MaxHeaderBytes = 100_000_000;
    const string MetadataKey = "__metadata__";
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    static readonly Dictionary<string, ScalarType> DTypes = new(StringComparer.Ordinal)
    {
        ["F64"] = ScalarType.Float64, ["F32"] = ScalarType.Float32, ["F16"] = ScalarType.Float16, ["BF16"] = ScalarType.BFloat16,
        ["I64"] = ScalarType.Int64, ["I32"] = ScalarType.Int32, ["I16"] = ScalarType.Int16, ["I8"] = ScalarType.Int8,
        ["U8"] = ScalarType.Byte, ["BOOL"] = ScalarType.Bool,
    };

    static readonly Dictionary<ScalarType, string> Names = DTypes.ToDictionary(kv => kv.Value, kv => kv.Key);

    /// <summary>Writes <paramref name="tree"/> (and string <paramref name="metadata"/>) to <paramref name="path"/>, atomically.</summary>
    public static void Save(string path, TensorTree tree, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tree);
        using var scope = torch.NewDisposeScope();
        var (header, data) = Prepare(tree, metadata);
        AtomicFile.Write(path, stream => WritePrepared(stream, header, data));
    }

    /// <summary>Writes <paramref name="tree"/> as a safetensors file to <paramref name="stream"/>.
    /// With <paramref name="withChecksum"/> the metadata gains <see cref="ChecksumKey"/>: the
    /// XxHash128 of the data bytes, which <see cref="Load"/> verifies (other readers ignore it);
    /// leave it out where the whole file is checksummed already (a saved folder's manifest).</summary>
    public static void Write(Stream stream, TensorTree tree, IReadOnlyDictionary<string, string>? metadata = null, bool withChecksum = true)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tree);
        using var scope = torch.NewDisposeScope();
        var (header, data) = Prepare(tree, metadata, withChecksum);
        WritePrepared(stream, header, data);
    }

    /// <summary>The metadata key holding the data section's XxHash128 (hex) in files we write.</summary>
    public const string ChecksumKey = "functional.data_xxh128";

    static (byte[] Header, List<Tensor> Data) Prepare(TensorTree tree, IReadOnlyDictionary<string, string>? metadata, bool withChecksum = true)
    {
        if (metadata is not null && metadata.ContainsKey(ChecksumKey))
            throw new ArgumentException($"The metadata key '{ChecksumKey}' is reserved for the checksum.", nameof(metadata));
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        var contiguous = new List<Tensor>(tree.Count);
        var entries = new Dictionary<string, object>(StringComparer.Ordinal);
        long offset = 0;
        var hash = new XxHash128();
        foreach (var (name, leaf) in tree)
        {
            if (name.Length == 0 || name == MetadataKey)
                throw new ArgumentException($"'{name}' cannot name a tensor in a safetensors file; put single tensors in a tree with a path.");
            if (!Names.TryGetValue(leaf.dtype, out var dtype))
                throw new ArgumentException($"Tensor '{name}' has dtype {leaf.dtype}, which safetensors does not store.");
            var data = leaf.detach().cpu().contiguous();
            long bytes = data.numel() * data.element_size();
            entries[name] = new { dtype, shape = leaf.shape, data_offsets = new[] { offset, offset + bytes } };
            contiguous.Add(data);
            if (bytes > 0 && withChecksum) hash.Append(data.bytes);
            offset += bytes;
        }
        var allMetadata = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        if (withChecksum) allMetadata[ChecksumKey] = Convert.ToHexStringLower(hash.GetCurrentHash());
        if (allMetadata.Count > 0) header[MetadataKey] = allMetadata;
        foreach (var (name, entry) in entries) header[name] = entry;
        return (JsonSerializer.SerializeToUtf8Bytes(header), contiguous);
    }

    static void WritePrepared(Stream stream, byte[] json, List<Tensor> data)
    {
        int padding = (8 - json.Length % 8) % 8;
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)(json.Length + padding));
        stream.Write(length);
        stream.Write(json);
        for (int i = 0; i < padding; i++) stream.WriteByte((byte)' ');
        foreach (var t in data)
            if (t.numel() > 0) stream.Write(t.bytes);
    }

    /// <summary>One tensor as the header describes it.</summary>
    /// <param name="Name">Its name (tree path).</param>
    /// <param name="DType">Its dtype.</param>
    /// <param name="Shape">Its shape.</param>
    public sealed record TensorInfo(string Name, ScalarType DType, long[] Shape);

    /// <summary>Reads and validates only the header of a safetensors file: the tensors' names,
    /// dtypes and shapes, the metadata and the size of the data, without allocating tensors.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file (named in the message).</exception>
    public static (IReadOnlyList<TensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataBytes) ReadHeader(string path)
    {
        using var file = OpenChecked(path);
        var (entries, metadata, _, dataLength) = ReadEntries(path, file);
        return (entries.Select(e => new TensorInfo(e.Name, e.DType, e.Shape)).ToArray(), metadata, dataLength);
    }

    /// <summary>Reads a safetensors file: its tensors as a tree (in offset order) and its metadata.
    /// A file we wrote carries the data's checksum, which is verified unless
    /// <paramref name="verifyChecksum"/> is false (the caller verified the whole file already).</summary>
    /// <exception cref="InvalidDataException">The file is damaged or not a valid safetensors file (named in the message).</exception>
    public static (TensorTree Tree, IReadOnlyDictionary<string, string> Metadata) Load(string path, bool verifyChecksum = true)
    {
        using var file = OpenChecked(path);
        var (entries, metadata, headerLength, _) = ReadEntries(path, file);
        var leaves = new List<(string, Tensor)>(entries.Count);
        using var scope = torch.NewDisposeScope();
        var hash = new XxHash128();
        foreach (var e in entries)
        {
            var tensor = torch.empty(e.Shape, e.DType);
            if (e.End > e.Begin)
            {
                file.Position = 8 + headerLength + e.Begin;
                file.ReadExactly(tensor.bytes);
                if (verifyChecksum) hash.Append(tensor.bytes);
            }
            leaves.Add((e.Name, tensor));
        }
        if (verifyChecksum && metadata.TryGetValue(ChecksumKey, out var expected) && !string.Equals(expected, Convert.ToHexStringLower(hash.GetCurrentHash()), StringComparison.Ordinal))
            throw new InvalidDataException($"{path} is damaged: its tensor data does not match the checksum written with it.");
        TensorTree tree;
        try { tree = TensorTree.FromLeaves(leaves); }
        catch (ArgumentException e) { throw Invalid(path, $"its tensor names do not form a tree ({e.Message})"); }
        tree.MoveToOuterDisposeScope();
        return (tree, metadata.Where(kv => kv.Key != ChecksumKey).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal));
    }

    /// <summary>Reads tensors of a safetensors file by name, as any tool writes them: only those
    /// <paramref name="include"/> accepts (all by default), reading only their bytes. Each is a
    /// fresh tensor the caller owns. No checksum is needed (files from Hugging Face and PyTorch
    /// carry none; <see cref="Load"/> verifies ours).</summary>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file (named in the message).</exception>
    public static Dictionary<string, Tensor> ReadTensors(string path, Func<string, bool>? include = null)
    {
        using var file = OpenChecked(path);
        var (entries, _, headerLength, _) = ReadEntries(path, file);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            if (include is not null && !include(e.Name)) continue;
            var tensor = torch.empty(e.Shape, e.DType);
            if (e.End > e.Begin)
            {
                file.Position = 8 + headerLength + e.Begin;
                file.ReadExactly(tensor.bytes);
            }
            tensors[e.Name] = tensor;
        }
        return tensors;
    }

    static FileStream OpenChecked(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try { return File.OpenRead(path); }
        catch (FileNotFoundException) { throw; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{path} cannot be read: {e.Message}", e);
        }
    }

    static (List<Entry> Entries, IReadOnlyDictionary<string, string> Metadata, long HeaderLength, long DataLength) ReadEntries(string path, FileStream file)
    {
        long length = file.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (length < 8 || file.Read(prefix) != 8) throw Invalid(path, $"the file has {length} bytes, fewer than the 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes) throw Invalid(path, $"the header claims {headerLength} bytes (more than {MaxHeaderBytes})");
        if ((long)headerLength > length - 8) throw Invalid(path, $"the header claims {headerLength} bytes but only {length - 8} follow (truncated?)");
        var headerBytes = new byte[headerLength];
        file.ReadExactly(headerBytes);
        long dataLength = length - 8 - (long)headerLength;
        var entries = ParseHeader(path, headerBytes, dataLength, out var metadata);
        return (entries, metadata, (long)headerLength, dataLength);
    }

    sealed record Entry(string Name, ScalarType DType, long[] Shape, long Begin, long End);

    static List<Entry> ParseHeader(string path, byte[] header, long dataLength, out IReadOnlyDictionary<string, string> metadata)
    {
        try { StrictUtf8.GetCharCount(header); }
        catch (DecoderFallbackException) { throw Invalid(path, "the header is not valid UTF-8"); }
        JsonDocument document;
        try { document = JsonDocument.Parse(header); }
        catch (JsonException e) { throw Invalid(path, $"the header is not JSON ({e.Message})"); }
        using var _ = document;
        if (document.RootElement.ValueKind != JsonValueKind.Object) throw Invalid(path, "the header is not a JSON object");
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<Entry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (!names.Add(property.Name)) throw Invalid(path, $"'{property.Name}' appears twice in the header");
            if (property.Name == MetadataKey)
            {
                if (property.Value.ValueKind != JsonValueKind.Object) throw Invalid(path, "__metadata__ is not an object");
                foreach (var m in property.Value.EnumerateObject())
                    meta[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw Invalid(path, $"metadata '{m.Name}' is not a string");
                continue;
            }
            entries.Add(ParseEntry(path, property));
        }
        entries.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        long expected = 0;
        foreach (var e in entries)
        {
            if (e.Begin != expected)
                throw Invalid(path, e.Begin < expected ? $"tensor '{e.Name}' overlaps the one before it" : $"the bytes before tensor '{e.Name}' belong to no tensor");
            expected = e.End;
        }
        if (expected != dataLength)
            throw Invalid(path, expected > dataLength
                ? $"the tensors need {expected} bytes of data but the file has {dataLength} (truncated?)"
                : $"the file has {dataLength - expected} bytes after the last tensor");
        metadata = meta;
        return entries;
    }

    static Entry ParseEntry(string path, JsonProperty property)
    {
        var name = property.Name;
        var v = property.Value;
        if (v.ValueKind != JsonValueKind.Object) throw Invalid(path, $"the entry of '{name}' is not an object");
        if (!v.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Invalid(path, $"tensor '{name}' has no dtype");
        if (!DTypes.TryGetValue(dtypeElement.GetString()!, out var dtype))
            throw Invalid(path, $"tensor '{name}' has dtype '{dtypeElement.GetString()}', which is not supported ({string.Join(", ", DTypes.Keys)})");
        var shape = Integers(path, name, v, "shape");
        if (shape.Any(d => d < 0)) throw Invalid(path, $"tensor '{name}' has a negative dimension");
        var offsets = Integers(path, name, v, "data_offsets");
        if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
            throw Invalid(path, $"tensor '{name}' has data_offsets [{string.Join(", ", offsets)}]; expected [begin, end] with begin <= end");
        long elements = 1;
        foreach (var d in shape)
            elements = d == 0 ? 0 : elements > long.MaxValue / d ? throw Invalid(path, $"tensor '{name}' is too large") : elements * d;
        long size = TensorAllocation.ElementSize(dtype);
        if (elements > long.MaxValue / size) throw Invalid(path, $"tensor '{name}' of shape [{string.Join(", ", shape)}] is too large");
        long bytes = elements * size;
        if (offsets[1] - offsets[0] != bytes)
            throw Invalid(path, $"tensor '{name}' of shape [{string.Join(", ", shape)}] {dtypeElement.GetString()} needs {bytes} bytes but its offsets span {offsets[1] - offsets[0]}");
        if (bytes > int.MaxValue) throw Invalid(path, $"tensor '{name}' is larger than 2 GB, which TorchSharp cannot fill in one piece");
        return new Entry(name, dtype, shape, offsets[0], offsets[1]);
    }

    static long[] Integers(string path, string name, JsonElement entry, string field)
    {
        if (!entry.TryGetProperty(field, out var array) || array.ValueKind != JsonValueKind.Array)
            throw Invalid(path, $"tensor '{name}' has no {field} array");
        var values = new List<long>();
        foreach (var item in array.EnumerateArray())
            values.Add(item.ValueKind == JsonValueKind.Number && item.TryGetInt64(out var n) ? n : throw Invalid(path, $"tensor '{name}' has a {field} entry that is not an integer"));
        return [.. values];
    }

    static InvalidDataException Invalid(string path, string problem) => new($"{path} is not a valid safetensors file: {problem}.");
}
