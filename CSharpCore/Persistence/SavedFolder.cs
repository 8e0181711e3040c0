using System.Globalization;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Functional.Persistence;

/// <summary>
/// A folder that holds exactly one complete save of several files, atomically as a whole.
/// Each save writes its files under new names (<c>{part}.{generation}-{random}.{extension}</c>),
/// then a small <c>manifest.json</c> naming them with their sizes and XxHash128 checksums is
/// renamed into place last: a reader that goes by the manifest sees the previous save or the new
/// one, never a mix, whenever a writer is killed. The next save removes what is no longer named
/// (older generations, files of a killed save, stale temporary files). Saves into one folder from
/// several processes take turns through a lock file; a reader that finds the files of a save it
/// resolved removed by a newer one reads again (see <see cref="Generation"/>).
/// </summary>
public static class SavedFolder
{
    /// <summary>The manifest's file name.</summary>
    public const string ManifestName = "manifest.json";
    const string Format = "functional.saved_folder", LockName = ".lock";

    /// <summary>One file of a save: its part name ("model", "state"), extension and content.</summary>
    public sealed record Part(string Name, string Extension, Action<Stream> Write);

    /// <summary>Writes <paramref name="parts"/> into <paramref name="folder"/> as one new save.</summary>
    /// <exception cref="IOException">The folder stayed locked by another saving process for <paramref name="lockTimeout"/> (30 s by default).</exception>
    public static void Save(string folder, IReadOnlyList<Part> parts, TimeSpan? lockTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(parts);
        Directory.CreateDirectory(folder);
        using var folderLock = Lock(folder, lockTimeout ?? TimeSpan.FromSeconds(30));
        long generation = LatestGeneration(folder) + 1;
        string stamp = $"{generation.ToString("D6", CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("N")[..8]}";
        var entries = new JsonArray();
        foreach (var part in parts)
        {
            // A new name that nothing reads until the manifest names it: written in place (a
            // killed write leaves a file the next save removes), flushed to disk before the manifest.
            var name = $"{part.Name}.{stamp}.{part.Extension}";
            var path = Path.Combine(folder, name);
            var hash = new XxHash128();
            long size;
            try
            {
                using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
                using (var hashing = new HashingStream(file, hash))
                {
                    part.Write(hashing);
                    size = hashing.Length;
                }
                file.Flush(flushToDisk: true);
            }
            catch
            {
                File.Delete(path);
                throw;
            }
            entries.Add(new JsonObject
            {
                ["part"] = part.Name, ["file"] = name, ["size"] = size, ["xxh128"] = Convert.ToHexStringLower(hash.GetCurrentHash()),
            });
        }
        var manifest = new JsonObject { ["format"] = Format, ["generation"] = generation, ["files"] = entries };
        var bytes = Encoding.UTF8.GetBytes(manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        AtomicFile.Write(Path.Combine(folder, ManifestName), stream => stream.Write(bytes));
        RemoveUnnamed(folder, parts.Select(p => p.Name).ToHashSet(StringComparer.Ordinal),
            entries.Select(e => (string)e!["file"]!).ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>The generation of the save the manifest names (0 without a manifest): it changes
    /// with every save, so a reader can tell that a save happened while it read.</summary>
    public static long Generation(string folder) => TryReadManifest(folder, out var manifest) ? manifest.Generation : 0;

    /// <summary>Whether <paramref name="folder"/> has a manifest (was saved in this form).</summary>
    public static bool HasManifest(string folder) => File.Exists(Path.Combine(folder, ManifestName));

    /// <summary>The files of the save the manifest names, part name to path, each verified
    /// against its size and checksum.</summary>
    /// <exception cref="InvalidDataException">The manifest is damaged, or a file it names is missing, of another size or damaged.</exception>
    public static IReadOnlyDictionary<string, string> Resolve(string folder)
    {
        var manifestPath = Path.Combine(folder, ManifestName);
        if (!TryReadManifest(folder, out var manifest))
            throw new InvalidDataException($"{folder} holds no saved model: {ManifestName} is missing.");
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (part, file, size, checksum) in manifest.Files)
        {
            var path = Path.Combine(folder, file);
            if (!File.Exists(path)) throw new InvalidDataException($"{manifestPath} names {file}, which is missing.");
            var info = new FileInfo(path);
            if (info.Length != size) throw new InvalidDataException($"{path} has {info.Length} bytes; {manifestPath} says {size} (truncated or replaced).");
            var hash = new XxHash128();
            using (var stream = File.OpenRead(path))
            {
                var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
                try
                {
                    for (int read; (read = stream.Read(buffer)) > 0;) hash.Append(buffer.AsSpan(0, read));
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            if (!string.Equals(Convert.ToHexStringLower(hash.GetCurrentHash()), checksum, StringComparison.Ordinal))
                throw new InvalidDataException($"{path} is damaged: its bytes do not match the checksum in {manifestPath}.");
            files[part] = path;
        }
        return files;
    }

    sealed record Manifest(long Generation, IReadOnlyList<(string Part, string File, long Size, string Checksum)> Files);

    static bool TryReadManifest(string folder, out Manifest manifest)
    {
        var path = Path.Combine(folder, ManifestName);
        manifest = new Manifest(0, []);
        if (!File.Exists(path)) return false;
        try
        {
            var root = JsonNode.Parse(File.ReadAllBytes(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object.");
            if ((string?)root["format"] != Format) throw new InvalidDataException($"{path} is not a Functional manifest.");
            var files = (root["files"] as JsonArray ?? throw new InvalidDataException($"{path} has no files list."))
                .Select(e => e is JsonObject o
                    && o["part"] is JsonValue p && p.TryGetValue<string>(out var part)
                    && o["file"] is JsonValue f && f.TryGetValue<string>(out var file) && file == Path.GetFileName(file) && !file.StartsWith('.')
                    && o["size"] is JsonValue s && s.TryGetValue<long>(out var size) && size >= 0
                    && o["xxh128"] is JsonValue x && x.TryGetValue<string>(out var checksum)
                    ? (part, file, size, checksum) : throw new InvalidDataException($"{path} has an invalid file entry."))
                .ToArray();
            long generation = root["generation"] is JsonValue g && g.TryGetValue<long>(out var n) && n > 0
                ? n : throw new InvalidDataException($"{path} has no valid generation.");
            manifest = new Manifest(generation, files);
            return true;
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path} is not a valid manifest: {e.Message}", e);
        }
    }

    /// <summary>The files a save writes: <c>{part}.{generation}-{8 hex}.{extension}</c>.</summary>
    static readonly System.Text.RegularExpressions.Regex SaveFileName =
        new(@"^(?<part>[^.]+)\.(?<generation>[0-9]{6,})-[0-9a-f]{8}\.[^.]+$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>The generation of the newest save: the manifest's, or, when the manifest is
    /// damaged, the highest in the file names (so a damaged manifest never blocks the next save).</summary>
    static long LatestGeneration(string folder)
    {
        try
        {
            if (TryReadManifest(folder, out var manifest)) return manifest.Generation;
        }
        catch (InvalidDataException) { }
        return Directory.EnumerateFiles(folder).Select(f => SaveFileName.Match(Path.GetFileName(f)))
            .Where(m => m.Success).Select(m => long.Parse(m.Groups["generation"].Value, CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();
    }

    /// <summary>Removes the files of earlier or killed saves (named exactly as a save names its
    /// parts, but not in the manifest), the two files of the unversioned layout, and stale
    /// temporary files. Other files in the folder are never touched.</summary>
    static void RemoveUnnamed(string folder, HashSet<string> partNames, HashSet<string> named)
    {
        foreach (var file in Directory.EnumerateFiles(folder))
        {
            var name = Path.GetFileName(file);
            if (named.Contains(name)) continue;
            var match = SaveFileName.Match(name);
            bool earlierSave = match.Success && partNames.Contains(match.Groups["part"].Value);
            if (!earlierSave && !LegacyNames.Contains(name)) continue;          // not ours: leave it
            try { File.Delete(file); }
            catch (IOException) { }
        }
        AtomicFile.RemoveStaleTemporaries(folder);
    }

    /// <summary>The fixed names of the layout before manifests, replaced by the first save with one.</summary>
    static readonly HashSet<string> LegacyNames = new(StringComparer.Ordinal) { "model.json", "state.safetensors" };

    static FileStream Lock(string folder, TimeSpan timeout)
    {
        var path = Path.Combine(folder, LockName);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                // FileShare.None takes an exclusive advisory lock; the OS releases it when a saving process dies.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20);
            }
            catch (IOException e)
            {
                throw new IOException($"{folder} is being saved by another process (its {LockName} stayed locked for {timeout.TotalSeconds:N0} s).", e);
            }
        }
    }

    /// <summary>Passes writes through to a stream, hashing and counting them.</summary>
    sealed class HashingStream(Stream inner, NonCryptographicHashAlgorithm hash) : Stream
    {
        long length;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => length;
        public override long Position { get => length; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.Append(buffer);
            inner.Write(buffer);
            length += buffer.Length;
        }
        public override void WriteByte(byte value) => Write([value]);
        protected override void Dispose(bool disposing) { }      // the inner stream belongs to the caller
    }
}
