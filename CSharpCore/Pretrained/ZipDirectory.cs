using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Functional.Pretrained;

/// <summary>
/// The entries of a zip archive whose entries are stored uncompressed, as <c>torch.save</c> writes
/// them: each entry's name, the offset of its data in the file and its size. Reads the end of
/// central directory record (and its Zip64 form, for archives over 4 GB), the central directory and
/// each entry's local header; never the entries' data, unless asked for it with <see cref="ReadAll"/>.
/// </summary>
/// <remarks>Everything read is checked against the file's length first: a damaged or hostile
/// archive is an <see cref="InvalidDataException"/> naming the file. Multi-disk archives are
/// rejected; compressed or encrypted entries are listed but rejected when looked up with
/// <see cref="TryFindStored"/>.</remarks>
internal sealed class ZipDirectory
{
    /// <summary>Largest central directory accepted (64 MB: about a million entries).</summary>
    const int MaxDirectoryBytes = 64 << 20;
    const int EndRecordSize = 22, Zip64LocatorSize = 20, Zip64EndRecordSize = 56, CentralHeaderSize = 46, LocalHeaderSize = 30;
    const uint EndSignature = 0x06054b50, Zip64LocatorSignature = 0x07064b50, Zip64EndSignature = 0x06064b50;
    const uint CentralSignature = 0x02014b50, LocalSignature = 0x04034b50;
    const ushort Zip64ExtraId = 0x0001;
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>One entry.</summary>
    /// <param name="Name">Its path in the archive.</param>
    /// <param name="DataOffset">Where its bytes begin in the file.</param>
    /// <param name="Size">How many bytes it has in the file.</param>
    /// <param name="Unreadable">Why its bytes are not its content ("compressed (method 8)", "encrypted"), or null for a stored entry.</param>
    internal sealed record Entry(string Name, long DataOffset, long Size, string? Unreadable);

    readonly string path;
    readonly SafeFileHandle file;
    readonly long fileLength;
    readonly Dictionary<string, Entry> byName = new(StringComparer.Ordinal);

    /// <summary>The entries in central-directory order.</summary>
    public IReadOnlyList<Entry> Entries { get; }

    ZipDirectory(string path, SafeFileHandle file)
    {
        this.path = path;
        this.file = file;
        fileLength = RandomAccess.GetLength(file);
        var (count, offset, size) = FindCentralDirectory();
        Entries = ReadCentralDirectory(count, offset, size);
        foreach (var entry in Entries)
            if (!byName.TryAdd(entry.Name, entry)) throw Invalid($"the entry '{entry.Name}' appears twice");
    }

    /// <summary>Reads the directory of the zip archive open as <paramref name="file"/> (at <paramref name="path"/>, named in errors).</summary>
    /// <exception cref="InvalidDataException">The archive is damaged or uses a feature not supported.</exception>
    public static ZipDirectory Read(string path, SafeFileHandle file) => new(path, file);

    /// <summary>Whether the archive has an entry named <paramref name="name"/>.</summary>
    public bool Contains(string name) => byName.ContainsKey(name);

    /// <summary>The stored entry named <paramref name="name"/>, if there is one.</summary>
    /// <exception cref="InvalidDataException">The entry exists but is compressed or encrypted.</exception>
    public bool TryFindStored(string name, [MaybeNullWhen(false)] out Entry entry)
    {
        if (!byName.TryGetValue(name, out entry)) return false;
        if (entry.Unreadable is { } reason)
            throw Invalid($"the entry '{name}' is {reason}; torch.save stores entries uncompressed, so re-save the file with torch.save");
        return true;
    }

    /// <summary>The whole of <paramref name="entry"/>, which must not exceed <paramref name="maxBytes"/>.</summary>
    public byte[] ReadAll(Entry entry, int maxBytes)
    {
        if (entry.Size > maxBytes) throw Invalid($"the entry '{entry.Name}' has {entry.Size} bytes, more than the {maxBytes} accepted");
        return ReadAt(entry.DataOffset, (int)entry.Size);
    }

    byte[] ReadAt(long offset, int count)
    {
        if (offset < 0 || count < 0 || offset > fileLength - count)
            throw Invalid($"it points at bytes {offset} to {offset + count}, beyond the file's {fileLength} (truncated?)");
        var buffer = new byte[count];
        int read = 0;
        while (read < count)
        {
            int n = RandomAccess.Read(file, buffer.AsSpan(read), offset + read);
            if (n == 0) throw Invalid($"the file ended at byte {offset + read} while it was being read");
            read += n;
        }
        return buffer;
    }

    (long Count, long Offset, long Size) FindCentralDirectory()
    {
        long endRecord = FindEndRecord();
        var record = ReadAt(endRecord, EndRecordSize);
        ushort disk = U16(record, 4), directoryDisk = U16(record, 6);
        long count = U16(record, 10), size = U32(record, 12), offset = U32(record, 16);
        if (count == ushort.MaxValue || size == uint.MaxValue || offset == uint.MaxValue)
            (count, offset, size) = ReadZip64EndRecord(endRecord);
        else if (disk != 0 || directoryDisk != 0)
            throw Invalid("the archive spans several disks");
        if (size > MaxDirectoryBytes) throw Invalid($"its central directory claims {size} bytes, more than the {MaxDirectoryBytes} accepted");
        if (count > size / CentralHeaderSize) throw Invalid($"its central directory claims {count} entries in {size} bytes");
        return (count, offset, size);
    }

    long FindEndRecord()
    {
        int tailLength = (int)Math.Min(fileLength, EndRecordSize + ushort.MaxValue);
        long tailStart = fileLength - tailLength;
        var tail = ReadAt(tailStart, tailLength);
        for (int i = tailLength - EndRecordSize; i >= 0; i--)
            if (U32(tail, i) == EndSignature && i + EndRecordSize + U16(tail, i + 20) <= tailLength)
                return tailStart + i;
        throw Invalid("it has no end of central directory record (not a zip archive, or truncated)");
    }

    (long Count, long Offset, long Size) ReadZip64EndRecord(long endRecord)
    {
        if (endRecord < Zip64LocatorSize) throw Invalid("its end record needs Zip64 values but there is no Zip64 locator");
        var locator = ReadAt(endRecord - Zip64LocatorSize, Zip64LocatorSize);
        if (U32(locator, 0) != Zip64LocatorSignature) throw Invalid("its end record needs Zip64 values but there is no Zip64 locator");
        var record = ReadAt(Checked64(locator, 8, "the Zip64 end record's offset"), Zip64EndRecordSize);
        if (U32(record, 0) != Zip64EndSignature) throw Invalid("the Zip64 locator does not point at a Zip64 end record");
        if (U32(record, 16) != 0 || U32(record, 20) != 0) throw Invalid("the archive spans several disks");
        return (Checked64(record, 32, "the entry count"),
                Checked64(record, 48, "the central directory's offset"),
                Checked64(record, 40, "the central directory's size"));
    }

    List<Entry> ReadCentralDirectory(long count, long offset, long size)
    {
        var directory = ReadAt(offset, (int)size);
        var entries = new List<Entry>((int)count);
        int position = 0;
        for (long i = 0; i < count; i++)
            entries.Add(ReadCentralHeader(directory, ref position));
        return entries;
    }

    Entry ReadCentralHeader(byte[] directory, ref int position)
    {
        int start = position;
        if (directory.Length - start < CentralHeaderSize || U32(directory, start) != CentralSignature)
            throw Invalid($"its central directory is damaged at byte {start}");
        ushort flags = U16(directory, start + 8), method = U16(directory, start + 10);
        int nameLength = U16(directory, start + 28), extraLength = U16(directory, start + 30), commentLength = U16(directory, start + 32);
        int end = start + CentralHeaderSize + nameLength + extraLength + commentLength;
        if (end > directory.Length) throw Invalid($"its central directory entry at byte {start} runs past the directory's end");
        string name = EntryName(directory.AsSpan(start + CentralHeaderSize, nameLength));
        long compressed = U32(directory, start + 20), size = U32(directory, start + 24), localHeader = U32(directory, start + 42);
        ApplyZip64Extra(name, directory.AsSpan(start + CentralHeaderSize + nameLength, extraLength), ref size, ref compressed, ref localHeader);
        string? unreadable = (flags & 1) != 0 ? "encrypted" : method != 0 ? $"compressed (method {method})" : null;
        if (unreadable is null && compressed != size) throw Invalid($"the stored entry '{name}' claims {compressed} compressed bytes but {size} uncompressed");
        position = end;
        return new Entry(name, DataOffset(name, localHeader, compressed), compressed, unreadable);
    }

    string EntryName(ReadOnlySpan<byte> bytes)
    {
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { throw Invalid("an entry's name is not valid UTF-8"); }
    }

    void ApplyZip64Extra(string name, ReadOnlySpan<byte> extra, ref long size, ref long compressed, ref long localHeader)
    {
        while (extra.Length >= 4)
        {
            ushort id = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            int length = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
            if (length > extra.Length - 4) throw Invalid($"the extra field of entry '{name}' is damaged");
            if (id == Zip64ExtraId)
            {
                var values = extra.Slice(4, length);
                size = Zip64Value(name, ref values, size);
                compressed = Zip64Value(name, ref values, compressed);
                localHeader = Zip64Value(name, ref values, localHeader);
            }
            extra = extra[(4 + length)..];
        }
    }

    long Zip64Value(string name, ref ReadOnlySpan<byte> values, long field)
    {
        if (field != uint.MaxValue) return field;
        if (values.Length < 8) throw Invalid($"the Zip64 extra field of entry '{name}' is too short");
        ulong value = BinaryPrimitives.ReadUInt64LittleEndian(values);
        values = values[8..];
        return value <= long.MaxValue ? (long)value : throw Invalid($"the Zip64 extra field of entry '{name}' holds {value}, beyond any file");
    }

    long DataOffset(string name, long localHeader, long size)
    {
        var header = ReadAt(localHeader, LocalHeaderSize);
        if (U32(header, 0) != LocalSignature) throw Invalid($"the local header of entry '{name}' is missing at byte {localHeader}");
        long dataOffset = localHeader + LocalHeaderSize + U16(header, 26) + U16(header, 28);
        if (dataOffset > fileLength || size > fileLength - dataOffset)
            throw Invalid($"the entry '{name}' runs past the end of the file (truncated?)");
        return dataOffset;
    }

    static ushort U16(byte[] bytes, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(offset));

    static uint U32(byte[] bytes, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset));

    long Checked64(byte[] bytes, int offset, string what)
    {
        ulong value = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(offset));
        return value <= long.MaxValue ? (long)value : throw Invalid($"{what} in the Zip64 end record is {value}, beyond any file");
    }

    InvalidDataException Invalid(string problem) => new($"{path} is not a valid PyTorch checkpoint: {problem}.");
}
