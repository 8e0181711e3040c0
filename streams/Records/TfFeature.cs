using System.Globalization;
using System.Text;

namespace Functional.Streams.Records;

/// <summary>Which list a <see cref="TfFeature"/> holds (tf.train.Feature's <c>kind</c>).</summary>
public enum TfFeatureKind
{
    /// <summary>No list set: no values, of any type.</summary>
    Empty,
    /// <summary>A BytesList (raw bytes or UTF-8 text).</summary>
    Bytes,
    /// <summary>A FloatList (float32).</summary>
    Float,
    /// <summary>An Int64List.</summary>
    Int64,
}

/// <summary>One tf.train.Feature: a list of byte strings, float32s or int64s.</summary>
public sealed class TfFeature
{
    static readonly byte[][] NoBytes = [];

    TfFeature(TfFeatureKind kind, byte[][]? bytes, float[]? floats, long[]? int64s) =>
        (Kind, BytesValues, FloatValues, Int64Values) = (kind, bytes ?? NoBytes, floats ?? [], int64s ?? []);

    /// <summary>The list this feature holds.</summary>
    public TfFeatureKind Kind { get; }

    /// <summary>The byte strings (empty unless <see cref="Kind"/> is Bytes).</summary>
    public IReadOnlyList<byte[]> BytesValues { get; }

    /// <summary>The floats (empty unless <see cref="Kind"/> is Float).</summary>
    public float[] FloatValues { get; }

    /// <summary>The int64s (empty unless <see cref="Kind"/> is Int64).</summary>
    public long[] Int64Values { get; }

    /// <summary>How many values the list holds.</summary>
    public int Count => Kind switch
    {
        TfFeatureKind.Bytes => BytesValues.Count,
        TfFeatureKind.Float => FloatValues.Length,
        TfFeatureKind.Int64 => Int64Values.Length,
        _ => 0,
    };

    /// <summary>A feature with no list set.</summary>
    public static TfFeature Empty { get; } = new(TfFeatureKind.Empty, null, null, null);

    /// <summary>An Int64List.</summary>
    public static TfFeature Of(params long[] values) => new(TfFeatureKind.Int64, null, null, values ?? throw new ArgumentNullException(nameof(values)));

    /// <summary>A FloatList.</summary>
    public static TfFeature Of(params float[] values) => new(TfFeatureKind.Float, null, values ?? throw new ArgumentNullException(nameof(values)), null);

    /// <summary>A BytesList.</summary>
    public static TfFeature Of(params byte[][] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Any(v => v is null)) throw new ArgumentException("A BytesList cannot hold a null byte string.", nameof(values));
        return new(TfFeatureKind.Bytes, values, null, null);
    }

    /// <summary>A BytesList of UTF-8 strings.</summary>
    public static TfFeature OfStrings(params string[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return Of([.. values.Select(v => Encoding.UTF8.GetBytes(v ?? throw new ArgumentException("A BytesList cannot hold a null string.", nameof(values))))]);
    }

    /// <summary>The byte strings read as UTF-8.</summary>
    public string[] Strings => [.. BytesValues.Select(b => Encoding.UTF8.GetString(b))];

    /// <summary>"int64[3] 1, 2, 3", "bytes[1] cat", "float[2] 0.5, 1" (at most 8 values shown).</summary>
    public override string ToString()
    {
        var shown = Kind switch
        {
            TfFeatureKind.Bytes => BytesValues.Take(8).Select(b => Encoding.UTF8.GetString(b)),
            TfFeatureKind.Float => FloatValues.Take(8).Select(v => v.ToString(CultureInfo.InvariantCulture)),
            TfFeatureKind.Int64 => Int64Values.Take(8).Select(v => v.ToString(CultureInfo.InvariantCulture)),
            _ => [],
        };
        string more = Count > 8 ? ", ..." : "";
        return $"{Kind.ToString().ToLowerInvariant()}[{Count}] {string.Join(", ", shown)}{more}";
    }

    internal static TfFeature Parse(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data, "tf.train.Feature");
        var result = Empty;
        while (!reader.End)
        {
            var (field, wire) = reader.ReadTag();
            if (field is < 1 or > 3) { reader.Skip(wire); continue; }
            reader.Expect(wire, 2, "a Feature's list");
            var list = reader.ReadLengthDelimited();
            var kind = field switch { 1 => TfFeatureKind.Bytes, 2 => TfFeatureKind.Float, _ => TfFeatureKind.Int64 };
            // Protobuf merges a message field given twice (the lists concatenate); setting another
            // member of the oneof replaces the first.
            bool merge = result.Kind == kind;
            result = kind switch
            {
                TfFeatureKind.Bytes => new(kind, [.. merge ? result.BytesValues : [], .. ParseBytes(list)], null, null),
                TfFeatureKind.Float => new(kind, null, [.. merge ? result.FloatValues : [], .. ParseFloats(list)], null),
                _ => new(kind, null, null, [.. merge ? result.Int64Values : [], .. ParseInt64s(list)]),
            };
        }
        return result;
    }

    static byte[][] ParseBytes(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data, "tf.train.BytesList");
        var values = new List<byte[]>();
        while (!reader.End)
        {
            var (field, wire) = reader.ReadTag();
            if (field != 1) { reader.Skip(wire); continue; }
            reader.Expect(wire, 2, "a BytesList value");
            values.Add(reader.ReadLengthDelimited().ToArray());
        }
        return [.. values];
    }

    static float[] ParseFloats(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data, "tf.train.FloatList");
        var values = new List<float>();
        while (!reader.End)
        {
            var (field, wire) = reader.ReadTag();
            if (field != 1) { reader.Skip(wire); continue; }
            if (wire == 5) { values.Add(BitConverter.UInt32BitsToSingle(reader.ReadFixed32())); continue; }
            reader.Expect(wire, 2, "a FloatList value");
            var packed = reader.ReadLengthDelimited();
            if (packed.Length % 4 != 0) throw reader.Malformed($"packed floats of {packed.Length} bytes (not a multiple of 4)");
            for (int i = 0; i < packed.Length; i += 4) values.Add(BitConverter.UInt32BitsToSingle(System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(packed[i..])));
        }
        return [.. values];
    }

    static long[] ParseInt64s(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data, "tf.train.Int64List");
        var values = new List<long>();
        while (!reader.End)
        {
            var (field, wire) = reader.ReadTag();
            if (field != 1) { reader.Skip(wire); continue; }
            if (wire == 0) { values.Add((long)reader.ReadVarint()); continue; }
            reader.Expect(wire, 2, "an Int64List value");
            var packed = new ProtoReader(reader.ReadLengthDelimited(), "tf.train.Int64List");
            while (!packed.End) values.Add((long)packed.ReadVarint());
        }
        return [.. values];
    }

    internal void WriteTo(ProtoWriter writer)
    {
        switch (Kind)
        {
            case TfFeatureKind.Bytes:
                writer.WriteMessage(1, list => { foreach (var b in BytesValues) list.WriteBytes(1, b); });
                break;
            case TfFeatureKind.Float:
                writer.WriteMessage(2, list => { if (FloatValues.Length > 0) list.WritePackedFloats(1, FloatValues); });
                break;
            case TfFeatureKind.Int64:
                writer.WriteMessage(3, list => { if (Int64Values.Length > 0) list.WritePackedVarints(1, Int64Values); });
                break;
        }
    }
}
