using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Functional.Streams.Records;

/// <summary>
/// Reads Protocol Buffers' wire format: tags, varints, fixed 32-bit values and length-delimited
/// fields, every length checked against what is left, so damaged input is an
/// <see cref="InvalidDataException"/> and never a read past the end or a huge allocation.
/// Enough for the tf.train messages (<see cref="TfExample"/>); not a general protobuf library.
/// </summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data, string message)
{
    ReadOnlySpan<byte> rest = data;

    public readonly bool End => rest.IsEmpty;

    /// <summary>The next field's number and wire type.</summary>
    public (int Field, int WireType) ReadTag()
    {
        ulong tag = ReadVarint();
        int field = (int)(tag >> 3);
        if (field == 0 || tag >> 3 > int.MaxValue) throw Malformed($"field number {tag >> 3}");
        return (field, (int)(tag & 7));
    }

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (rest.IsEmpty) throw Malformed("a varint cut off at the end");
            byte b = rest[0];
            rest = rest[1..];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return value;
        }
        throw Malformed("a varint longer than 10 bytes");
    }

    public uint ReadFixed32()
    {
        if (rest.Length < 4) throw Malformed("a 32-bit value cut off at the end");
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(rest);
        rest = rest[4..];
        return value;
    }

    public ReadOnlySpan<byte> ReadLengthDelimited()
    {
        ulong length = ReadVarint();
        if (length > (ulong)rest.Length) throw Malformed($"a field of {length} bytes where {rest.Length} are left");
        var value = rest[..(int)length];
        rest = rest[(int)length..];
        return value;
    }

    public string ReadString()
    {
        var bytes = ReadLengthDelimited();
        try { return Strict.GetString(bytes); }
        catch (DecoderFallbackException) { throw Malformed("a name that is not UTF-8"); }
    }

    /// <summary>Skips a field of <paramref name="wireType"/> (unknown fields are allowed, as protobuf allows them).</summary>
    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case 0: ReadVarint(); break;
            case 1:
                if (rest.Length < 8) throw Malformed("a 64-bit value cut off at the end");
                rest = rest[8..];
                break;
            case 2: ReadLengthDelimited(); break;
            case 5: ReadFixed32(); break;
            default: throw Malformed($"wire type {wireType}");
        }
    }

    /// <summary>Requires <paramref name="wireType"/> to be <paramref name="expected"/> for <paramref name="field"/>.</summary>
    public readonly void Expect(int wireType, int expected, string field)
    {
        if (wireType != expected) throw Malformed($"{field} with wire type {wireType} (expected {expected})");
    }

    public readonly InvalidDataException Malformed(string what) => new($"Not a valid {message}: {what}.");

    static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);
}

/// <summary>Writes Protocol Buffers' wire format into a growing buffer.</summary>
internal sealed class ProtoWriter
{
    readonly ArrayBufferWriter<byte> buffer = new();

    public ReadOnlySpan<byte> Written => buffer.WrittenSpan;

    public void Clear() => buffer.ResetWrittenCount();

    public void WriteTag(int field, int wireType) => WriteVarint(((ulong)field << 3) | (uint)wireType);

    public void WriteVarint(ulong value)
    {
        var span = buffer.GetSpan(10);
        int n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[n++] = (byte)value;
        buffer.Advance(n);
    }

    public void WriteBytes(int field, ReadOnlySpan<byte> value)
    {
        WriteTag(field, 2);
        WriteVarint((ulong)value.Length);
        buffer.Write(value);
    }

    public void WriteString(int field, string value) => WriteBytes(field, Encoding.UTF8.GetBytes(value));

    public void WritePackedFloats(int field, ReadOnlySpan<float> values)
    {
        WriteTag(field, 2);
        WriteVarint((ulong)values.Length * 4);
        var span = buffer.GetSpan(values.Length * 4);
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(span[(4 * i)..], values[i]);
        buffer.Advance(values.Length * 4);
    }

    public void WritePackedVarints(int field, ReadOnlySpan<long> values)
    {
        int size = 0;
        foreach (var v in values) size += VarintSize((ulong)v);
        WriteTag(field, 2);
        WriteVarint((ulong)size);
        foreach (var v in values) WriteVarint((ulong)v);
    }

    /// <summary>Writes a nested message: <paramref name="write"/> fills a scratch writer, then its bytes go in with their length.</summary>
    public void WriteMessage(int field, Action<ProtoWriter> write)
    {
        var nested = new ProtoWriter();
        write(nested);
        WriteBytes(field, nested.Written);
    }

    static int VarintSize(ulong value)
    {
        int n = 1;
        while (value >= 0x80) { value >>= 7; n++; }
        return n;
    }
}
