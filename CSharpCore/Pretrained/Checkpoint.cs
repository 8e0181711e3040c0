using System.Text;
using System.Text.Json;
using Functional.Persistence;
using static TorchSharp.torch;

namespace Functional.Pretrained;

/// <summary>
/// Weights from the Python world, opened lazily: a safetensors file (Hugging Face, PyTorch), a
/// PyTorch checkpoint (<c>torch.save</c>: <c>.pt</c>, <c>.pth</c>, <c>pytorch_model.bin</c>), or a
/// sharded checkpoint by its index (<c>model.safetensors.index.json</c>,
/// <c>pytorch_model.bin.index.json</c>: a "weight_map" from tensor names to shard files beside it).
/// Opening reads only headers; <see cref="Read"/> reads only the tensors asked for.
/// </summary>
public sealed class Checkpoint
{
    /// <summary>One tensor of the checkpoint.</summary>
    /// <param name="Name">Its name as the checkpoint spells it (e.g. "encoder.layer.0.weight").</param>
    /// <param name="DType">Its stored dtype.</param>
    /// <param name="Shape">Its shape.</param>
    /// <param name="File">The file holding it (a shard, for a sharded checkpoint).</param>
    /// <param name="InPyTorchFile">Whether that file is a torch.save checkpoint (else safetensors).</param>
    public sealed record Entry(string Name, ScalarType DType, long[] Shape, string File, bool InPyTorchFile);

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    Checkpoint(string path, IReadOnlyList<Entry> tensors, bool keepsModuleOrder) =>
        (Path, Tensors, KeepsModuleOrder) = (path, tensors, keepsModuleOrder);

    /// <summary>The path it was opened from.</summary>
    public string Path { get; }

    /// <summary>Its tensors, in the order the checkpoint lists them.</summary>
    public IReadOnlyList<Entry> Tensors { get; }

    /// <summary>Whether that order is the model's module order: true for a PyTorch checkpoint (a
    /// state dict keeps module registration order); false for safetensors files (their writer
    /// sorts tensors by dtype and name) and sharded indexes (written with sorted keys).</summary>
    public bool KeepsModuleOrder { get; }

    /// <summary>Opens the checkpoint at <paramref name="path"/>, telling the format by its content
    /// (an index by its ".index.json" name).</summary>
    /// <exception cref="FileNotFoundException">The file, or a shard its index names, does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a checkpoint of a supported format (named in the message).</exception>
    public static Checkpoint Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No checkpoint at '{path}'.", path);
        if (path.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase)) return OpenSharded(path);
        bool pytorch = IsPyTorchZip(path);
        return new Checkpoint(path, ListFile(path, pytorch), keepsModuleOrder: pytorch);
    }

    /// <summary>The tensors <paramref name="include"/> accepts (all by default), each a fresh CPU
    /// tensor in its stored dtype that the caller owns; only their bytes are read.</summary>
    /// <exception cref="InvalidDataException">A file is damaged (named in the message).</exception>
    public Dictionary<string, Tensor> Read(Func<string, bool>? include = null)
    {
        var wanted = Tensors.Where(t => include is null || include(t.Name)).ToArray();
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var file in wanted.GroupBy(t => t.File))
            {
                var names = file.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
                foreach (var (name, tensor) in ReadFile(file.Key, file.First().InPyTorchFile, names.Contains))
                    if (!result.TryAdd(name, tensor)) tensor.Dispose();
            }
            return result;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
    }

    static bool IsPyTorchZip(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        int read = file.Read(magic);
        // A zip archive, or the legacy format (a pickle starting PROTO 2, LONG1 of 10 bytes: as a
        // safetensors header length that is over its 100 MB limit), which the PyTorch reader
        // refuses in its own words.
        return read == 4 && (magic[0] == (byte)'P' && magic[1] == (byte)'K' && magic[2] == 3 && magic[3] == 4
            || magic[0] == 0x80 && magic[1] == 0x02 && magic[2] == 0x8a && magic[3] == 0x0a);
    }

    static IReadOnlyList<Entry> ListFile(string path, bool pytorch) => pytorch
        ? [.. PyTorchCheckpoint.ReadIndex(path).Select(t => new Entry(t.Name, t.DType, t.Shape, path, true))]
        : [.. SafeTensors.ReadHeader(path).Tensors.Select(t => new Entry(t.Name, t.DType, t.Shape, path, false))];

    static Dictionary<string, Tensor> ReadFile(string path, bool pytorch, Func<string, bool> include) =>
        pytorch ? PyTorchCheckpoint.Load(path, include) : SafeTensors.ReadTensors(path, include);

    static Checkpoint OpenSharded(string indexPath)
    {
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        var shards = ReadWeightMap(indexPath);
        var byShard = new Dictionary<string, IReadOnlyList<Entry>>(StringComparer.Ordinal);
        var tensors = new List<Entry>();
        foreach (var (name, shard) in shards)
        {
            if (!byShard.TryGetValue(shard, out var listed))
            {
                var shardPath = System.IO.Path.Combine(folder, shard);
                if (!File.Exists(shardPath))
                    throw new FileNotFoundException($"{indexPath} names the shard '{shard}', which is not beside it.", shardPath);
                byShard[shard] = listed = ListFile(shardPath, IsPyTorchZip(shardPath));
            }
            var entry = listed.FirstOrDefault(t => t.Name == name)
                ?? throw new InvalidDataException($"{indexPath} puts '{name}' in the shard '{shard}', which does not hold it.");
            tensors.Add(entry);
        }
        return new Checkpoint(indexPath, tensors, keepsModuleOrder: false);
    }

    /// <summary>The index's "weight_map", in file order; shard names must be plain file names.</summary>
    static List<(string Name, string Shard)> ReadWeightMap(string indexPath)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(StrictUtf8.GetString(File.ReadAllBytes(indexPath))); }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            throw new InvalidDataException($"{indexPath} is not a checkpoint index: it is not UTF-8 JSON ({e.Message}).", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{indexPath} is not a checkpoint index: it has no \"weight_map\" object.");
            var shards = new List<(string, string)>();
            foreach (var p in map.EnumerateObject())
            {
                var shard = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : "";
                if (shard.Length == 0 || shard != System.IO.Path.GetFileName(shard) || shard is "." or "..")
                    throw new InvalidDataException($"{indexPath}: the shard of '{p.Name}' is not a file name beside the index ({p.Value}).");
                shards.Add((p.Name, shard));
            }
            return shards;
        }
    }
}
