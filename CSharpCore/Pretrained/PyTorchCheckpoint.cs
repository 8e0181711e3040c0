using System.Globalization;
using System.IO.MemoryMappedFiles;
using System.Text;
using Functional.Runtime;
using TorchSharp;
using static Functional.Pretrained.PickleReader;
using static TorchSharp.torch;

namespace Functional.Pretrained;

/// <summary>
/// Reads PyTorch checkpoints written by <c>torch.save</c> in its zip format (the default since
/// PyTorch 1.6; Hugging Face <c>pytorch_model.bin</c> files are the same): the state dict's tensors
/// as TorchSharp tensors. The pickle is read by a restricted unpickler that executes nothing, and
/// tensor data is read lazily through a memory-mapped view, so listing a 10 GB file or loading one
/// of its tensors reads only what that needs.
/// </summary>
/// <remarks>The top-level object must be a dict; nested dicts (<c>{"state_dict": {...}, "epoch": 3}</c>)
/// are flattened with "." between keys, and leaves that are not tensors are skipped. Loading trusts
/// nothing: every failure is an <see cref="InvalidDataException"/> naming the file, and every
/// tensor's strided view is checked to lie inside its storage before any native call.
/// The legacy (pre-1.6) format and TorchScript archives are rejected with a clear message.</remarks>
public static class PyTorchCheckpoint
{
    /// <summary>Largest data.pkl accepted (128 MB; a large model's is a few MB).</summary>
    const int MaxPickleBytes = 128 << 20;

    /// <summary>Deepest nesting of dicts that is flattened.</summary>
    const int MaxDictDepth = 1000;

    /// <summary>Most dict items that flattening may visit plus characters of names it may build (dicts shared many times over could otherwise make exponentially many).</summary>
    const long MaxFlatteningWork = 1L << 28;

    /// <summary>Bytes copied per native span when a tensor is larger than a span can hold.</summary>
    const long CopyChunkBytes = 1L << 30;

    /// <summary>One tensor of a checkpoint, as its pickle describes it (no data read).</summary>
    /// <param name="Name">Its state-dict key, nested keys joined with ".".</param>
    /// <param name="DType">Its dtype.</param>
    /// <param name="Shape">Its shape.</param>
    public sealed record StoredTensor(string Name, ScalarType DType, long[] Shape);

    sealed record LocatedTensor(string Name, TensorReference Tensor, ZipDirectory.Entry Storage);

    /// <summary>The names, dtypes and shapes of the checkpoint's tensors, in pickle order, without reading tensor data.</summary>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid checkpoint (named in the message).</exception>
    public static IReadOnlyList<StoredTensor> ReadIndex(string path)
    {
        using var file = OpenChecked(path);
        return ReadTensors(path, file)
            .Select(t => new StoredTensor(t.Name, t.Tensor.Storage.DType, [.. t.Tensor.Shape]))
            .ToArray();
    }

    /// <summary>Loads the checkpoint's tensors that <paramref name="include"/> accepts (all by default),
    /// reading only their storages. Each is a fresh contiguous CPU tensor that the caller owns.</summary>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid checkpoint (named in the message).</exception>
    public static Dictionary<string, Tensor> Load(string path, Func<string, bool>? include = null)
    {
        using var file = OpenChecked(path);
        var selected = ReadTensors(path, file).Where(t => include is null || include(t.Name)).ToList();
        using var map = MemoryMappedFile.CreateFromFile(file, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        using var scope = torch.NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var t in selected) tensors[t.Name] = Materialize(map, t);
        foreach (var tensor in tensors.Values) tensor.MoveToOuterDisposeScope();
        return tensors;
    }

    static FileStream OpenChecked(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} does not exist.", path);
        FileStream file;
        try { file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{path} cannot be read: {e.Message}", e);
        }
        try
        {
            RejectIfNotZip(path, file);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static void RejectIfNotZip(string path, FileStream file)
    {
        Span<byte> magic = stackalloc byte[4];
        int read = file.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        if (read == 4 && magic.SequenceEqual("PK\x03\x04"u8)) return;
        if (read > 0 && magic[0] == 0x80)
            throw new InvalidDataException($"{path}: legacy torch.save format is not supported; re-save with PyTorch >= 1.6 (its default zip format).");
        throw Invalid(path, "it is not a zip archive (torch.save has written zip archives since PyTorch 1.6)");
    }

    static List<LocatedTensor> ReadTensors(string path, FileStream file)
    {
        var zip = ZipDirectory.Read(path, file.SafeFileHandle);
        string prefix = ArchivePrefix(path, zip);
        RejectTorchScript(path, zip, prefix);
        CheckByteOrder(path, zip, prefix);
        if (!zip.TryFindStored(prefix + "data.pkl", out var pickleEntry)) throw Invalid(path, $"it has no {prefix}data.pkl");
        var root = PickleReader.Read(path, zip.ReadAll(pickleEntry, MaxPickleBytes));
        return [.. Flatten(path, root).Select(t => Locate(path, zip, prefix, t.Name, t.Tensor))];
    }

    static string ArchivePrefix(string path, ZipDirectory zip)
    {
        if (zip.Entries.Count == 0) throw Invalid(path, "the archive is empty");
        string first = zip.Entries[0].Name;
        int slash = first.IndexOf('/');
        if (slash <= 0) throw Invalid(path, $"its first entry '{first}' is not inside a folder, as torch.save writes it");
        return first[..(slash + 1)];
    }

    static void RejectTorchScript(string path, ZipDirectory zip, string prefix)
    {
        if (zip.Contains(prefix + "constants.pkl") || zip.Entries.Any(e => e.Name.StartsWith(prefix + "code/", StringComparison.Ordinal)))
            throw new InvalidDataException($"{path} is a TorchScript archive (torch.jit.save), which is not supported; save the model's state_dict() with torch.save instead.");
    }

    static void CheckByteOrder(string path, ZipDirectory zip, string prefix)
    {
        if (!zip.TryFindStored(prefix + "byteorder", out var entry)) return;
        var order = Encoding.ASCII.GetString(zip.ReadAll(entry, 16));
        if (order != "little") throw Invalid(path, $"its byteorder is '{order}'; only little-endian checkpoints are supported");
    }

    // Flattening nested dicts into state-dict names.

    static List<(string Name, TensorReference Tensor)> Flatten(string path, object? root)
    {
        if (root is not PythonDict dict) throw Invalid(path, $"its top-level object is a {Describe(root)}, not a dict of tensors");
        var flattening = new Flattening(path);
        flattening.Collect(dict, "", 0);
        return flattening.Tensors;
    }

    sealed class Flattening(string path)
    {
        readonly HashSet<string> names = new(StringComparer.Ordinal);
        long workLeft = MaxFlatteningWork;

        public List<(string Name, TensorReference Tensor)> Tensors { get; } = [];

        public void Collect(PythonDict dict, string prefix, int depth)
        {
            if (depth >= MaxDictDepth) throw Invalid(path, $"its dicts are nested more than {MaxDictDepth} deep (or a dict contains itself)");
            foreach (var (key, value) in dict.Items)
            {
                Spend(1);
                if (value is not (TensorReference or PythonDict)) continue;
                string name = prefix + KeyName(key, value);
                Spend(name.Length);
                if (value is PythonDict inner) Collect(inner, name + ".", depth + 1);
                else if (!names.Add(name)) throw Invalid(path, $"the name '{name}' is given to two tensors");
                else Tensors.Add((name, (TensorReference)value));
            }
        }

        string KeyName(object? key, object? value) => key switch
        {
            string text => text,
            long number => number.ToString(CultureInfo.InvariantCulture),
            _ => throw Invalid(path, $"a {Describe(value)} has a key of type {Describe(key)}; only str and int keys can name tensors"),
        };

        void Spend(long work)
        {
            workLeft -= work;
            if (workLeft < 0) throw Invalid(path, $"flattening its dicts would visit more than {MaxFlatteningWork} items and name characters (dicts shared many times over?)");
        }
    }

    // Storages and tensor data.

    static LocatedTensor Locate(string path, ZipDirectory zip, string prefix, string name, TensorReference tensor)
    {
        var storage = tensor.Storage;
        if (!zip.TryFindStored($"{prefix}data/{storage.Key}", out var entry))
            throw Invalid(path, $"tensor '{name}' refers to storage '{storage.Key}', but there is no entry {prefix}data/{storage.Key}");
        long elementSize = TensorAllocation.ElementSize(storage.DType);
        if (storage.ElementCount > entry.Size / elementSize)
            throw Invalid(path, $"storage '{storage.Key}' claims {storage.ElementCount} elements of {storage.DType} but its entry has only {entry.Size} bytes");
        return new LocatedTensor(name, tensor, entry);
    }

    static Tensor Materialize(MemoryMappedFile map, LocatedTensor located)
    {
        var tensor = located.Tensor;
        var dtype = tensor.Storage.DType;
        if (tensor.ElementCount == 0) return torch.empty(tensor.Shape, dtype);
        long elementSize = TensorAllocation.ElementSize(dtype);
        long start = located.Storage.DataOffset + tensor.Offset * elementSize;
        var span = torch.empty(tensor.SpanElements, dtype);
        using (var view = map.CreateViewStream(start, tensor.SpanElements * elementSize, MemoryMappedFileAccess.Read))
            CopyInto(span, view, elementSize);
        return span.as_strided(tensor.Shape, tensor.Stride).contiguous();
    }

    static void CopyInto(Tensor flat, Stream source, long elementSize)
    {
        long total = flat.shape[0], perChunk = CopyChunkBytes / elementSize;
        for (long start = 0; start < total; start += perChunk)
        {
            using var chunk = flat.narrow(0, start, Math.Min(perChunk, total - start));
            source.ReadExactly(chunk.bytes);
        }
    }

    static InvalidDataException Invalid(string path, string problem) => new($"{path} is not a valid PyTorch checkpoint: {problem}.");
}
