using System.IO.Hashing;
using System.Text;
using Apache.Arrow;

namespace Functional.Streams.Sources;

/// <summary>
/// The checksum of the Arrow IPC and Parquet files we write: the XxHash128 of the whole file,
/// stored in the file's own string metadata under <see cref="Key"/> (Arrow: the schema's; Parquet:
/// the footer's key-value metadata; other readers see plain metadata). That metadata is written
/// before the checksum is known (Arrow writes the schema twice, at the start and in the footer):
/// the writer puts a random placeholder of the same length there, hashes the file with those
/// bytes read as '0's, and writes the checksum over the placeholder in place. The reader finds
/// the checksum's bytes in the file's first and last MiB, reads them as '0's, hashes, compares.
/// Public so that a file format in another package (Parquet) seals and verifies the same way.
/// </summary>
public static class FileChecksum
{
    /// <summary>The schema metadata key.</summary>
    public const string Key = "functional.xxh128";
    const int Length = 32;                 // hex digits of a 128-bit hash
    const int Window = 1 << 20;            // where schemas are: the first and last MiB

    /// <summary>A schema carrying a fresh placeholder (returned) for the checksum.</summary>
    public static (Schema Schema, string Placeholder) WithPlaceholder(Schema schema)
    {
        var placeholder = Guid.NewGuid().ToString("N");
        var metadata = (schema.Metadata ?? new Dictionary<string, string>()).Where(kv => kv.Key != Key).Append(KeyValuePair.Create(Key, placeholder));
        return (new Schema(schema.FieldsList, metadata), placeholder);
    }



    /// <summary>Replaces the placeholder in the written file <paramref name="file"/> by the file's checksum.</summary>
    public static void Seal(FileStream file, string placeholder)
    {
        var positions = Find(file, placeholder);
        if (positions.Count == 0) throw new InvalidOperationException("The file's writer did not write the checksum placeholder where its metadata belongs.");
        var checksum = Encoding.ASCII.GetBytes(Compute(file, positions));
        foreach (var p in positions)
        {
            file.Position = p;
            file.Write(checksum);
        }
        file.Flush(flushToDisk: true);
    }

    /// <summary>Null when <paramref name="path"/>'s checksum (if its <paramref name="metadata"/> has one)
    /// matches; else what is wrong.</summary>
    /// <remarks>A file another tool rewrote while keeping our metadata carries a checksum of
    /// another file: it is reported as damaged, and the message says so.</remarks>
    public static string? Verify(string path, IReadOnlyDictionary<string, string>? metadata)
    {
        using var file = File.OpenRead(path);
        if (metadata is null || !metadata.TryGetValue(Key, out var expected))
            // No checksum in the footer's schema: a file of another writer, unless the key's bytes
            // stand in the file (damage to the footer's copy of the key must not switch checks off).
            return Find(file, Key).Count == 0 ? null : "its checksum entry is damaged";
        var positions = Find(file, expected);
        return string.Equals(Compute(file, positions), expected, StringComparison.Ordinal)
            ? null : $"its bytes do not match the checksum in its metadata ('{Key}'; if another tool rewrote the file and kept that metadata, remove the key)";
    }

    /// <summary>Where <paramref name="value"/>'s ASCII bytes stand in the file's head (its first
    /// MiB, or Arrow's whole first schema message) and tail (its last MiB, or the whole footer).</summary>
    static List<long> Find(FileStream file, string value)
    {
        var needle = Encoding.ASCII.GetBytes(value);
        var found = new SortedSet<long>();
        var (head, tail) = MetadataRegions(file);
        foreach (var (start, length) in new[] { (0L, head), (file.Length - tail, tail) })
        {
            var buffer = new byte[length];
            file.Position = start;
            file.ReadExactly(buffer);
            for (int i = buffer.AsSpan().IndexOf(needle); i >= 0;)
            {
                found.Add(start + i);
                int next = buffer.AsSpan(i + 1).IndexOf(needle);
                i = next < 0 ? -1 : i + 1 + next;
            }
        }
        return [.. found];
    }

    /// <summary>How many bytes from the start and from the end hold the metadata: at least a MiB,
    /// more when Arrow's first message or the footer (Arrow or Parquet) says it is longer.</summary>
    static (int Head, int Tail) MetadataRegions(FileStream file)
    {
        long length = file.Length;
        long head = Window, tail = Window;
        Span<byte> end = stackalloc byte[10];
        if (length >= 10)
        {
            file.Position = length - 10;
            file.ReadExactly(end);
            if (end[4..].SequenceEqual("ARROW1"u8)) tail = Math.Max(tail, BitConverter.ToInt32(end[..4]) + 10L);
            else if (end[6..].SequenceEqual("PAR1"u8)) tail = Math.Max(tail, BitConverter.ToInt32(end[2..6]) + 8L);
        }
        Span<byte> start = stackalloc byte[16];
        if (length >= 16)
        {
            file.Position = 0;
            file.ReadExactly(start);
            if (start[..6].SequenceEqual("ARROW1"u8))
                head = Math.Max(head, 16L + BitConverter.ToInt32(start[12..16]));
        }
        // Damaged lengths are clamped: the regions never reach past the file or past 64 MiB.
        long most = Math.Min(length, 64L << 20);
        return ((int)Math.Clamp(head, 0, most), (int)Math.Clamp(tail, 0, most));
    }

    /// <summary>The file's XxHash128 (hex) with the bytes at <paramref name="positions"/> read as '0's.</summary>
    static string Compute(FileStream file, IReadOnlyList<long> positions)
    {
        var hash = new XxHash128();
        var buffer = new byte[Window];
        file.Position = 0;
        for (long offset = 0; offset < file.Length;)
        {
            int read = file.Read(buffer);
            if (read == 0) break;
            foreach (var p in positions)
                for (long i = Math.Max(p, offset); i < Math.Min(p + Length, offset + read); i++) buffer[i - offset] = (byte)'0';
            hash.Append(buffer.AsSpan(0, read));
            offset += read;
        }
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }
}
