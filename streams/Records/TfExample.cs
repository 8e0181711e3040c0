namespace Functional.Streams.Records;

/// <summary>
/// One tf.train.Example: named features, each a list of bytes, floats or int64s. Parse a
/// serialized record with <see cref="Parse"/>; <see cref="ToByteArray"/> serializes it (features
/// in name order). To read many as columns use <see cref="DataStream.TfRecordExamples"/>.
/// </summary>
public sealed class TfExample(IReadOnlyDictionary<string, TfFeature> features)
{
    /// <summary>The features by name.</summary>
    public IReadOnlyDictionary<string, TfFeature> Features { get; } = features ?? throw new ArgumentNullException(nameof(features));

    /// <summary>Parses a serialized tf.train.Example.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a valid Example (the message says what is wrong).</exception>
    public static TfExample Parse(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data, "tf.train.Example");
        var features = new Dictionary<string, TfFeature>(StringComparer.Ordinal);
        while (!reader.End)
        {
            var (field, wire) = reader.ReadTag();
            if (field != 1) { reader.Skip(wire); continue; }
            reader.Expect(wire, 2, "Example.features");
            ParseFeatures(reader.ReadLengthDelimited(), features);
        }
        return new TfExample(features);
    }

    /// <summary>The serialized Example.</summary>
    public byte[] ToByteArray()
    {
        var writer = new ProtoWriter();
        writer.WriteMessage(1, f => WriteFeatures(f, Features));
        return writer.Written.ToArray();
    }

    /// <summary>"Example { id: int64[1] 100, label: bytes[1] cat }".</summary>
    public override string ToString() =>
        $"Example {{ {string.Join(", ", Features.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}: {f.Value}"))} }}";

    /// <summary>Reads a tf.train.Features message (a map, so a name given twice keeps its last feature).</summary>
    internal static void ParseFeatures(ReadOnlySpan<byte> data, Dictionary<string, TfFeature> into)
    {
        var reader = new ProtoReader(data, "tf.train.Features");
        while (!reader.End)
        {
            var (field, wire) = reader.ReadTag();
            if (field != 1) { reader.Skip(wire); continue; }
            reader.Expect(wire, 2, "a Features entry");
            var entry = new ProtoReader(reader.ReadLengthDelimited(), "tf.train.Features entry");
            string name = "";
            var feature = TfFeature.Empty;
            while (!entry.End)
            {
                var (entryField, entryWire) = entry.ReadTag();
                if (entryField == 1) { entry.Expect(entryWire, 2, "a feature's name"); name = entry.ReadString(); }
                else if (entryField == 2) { entry.Expect(entryWire, 2, "a feature"); feature = TfFeature.Parse(entry.ReadLengthDelimited()); }
                else entry.Skip(entryWire);
            }
            into[name] = feature;
        }
    }

    internal static void WriteFeatures(ProtoWriter writer, IReadOnlyDictionary<string, TfFeature> features)
    {
        foreach (var (name, feature) in features.OrderBy(f => f.Key, StringComparer.Ordinal))
            writer.WriteMessage(1, entry =>
            {
                entry.WriteString(1, name);
                entry.WriteMessage(2, feature.WriteTo);
            });
    }
}
