namespace Functional.Streams.Records;

/// <summary>
/// One tf.train.SequenceExample: context features (one list each, as in an Example) and feature
/// lists (one feature per step of a sequence). See <see cref="DataStream.TfRecordSequenceExamples"/>
/// for reading many as columns.
/// </summary>
public sealed class TfSequenceExample(IReadOnlyDictionary<string, TfFeature> context, IReadOnlyDictionary<string, IReadOnlyList<TfFeature>> featureLists)
{
    /// <summary>The context features by name.</summary>
    public IReadOnlyDictionary<string, TfFeature> Context { get; } = context ?? throw new ArgumentNullException(nameof(context));

    /// <summary>The feature lists by name: one feature per step.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<TfFeature>> FeatureLists { get; } = featureLists ?? throw new ArgumentNullException(nameof(featureLists));

    /// <summary>Parses a serialized tf.train.SequenceExample.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a valid SequenceExample.</exception>
    public static TfSequenceExample Parse(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data, "tf.train.SequenceExample");
        var context = new Dictionary<string, TfFeature>(StringComparer.Ordinal);
        var lists = new Dictionary<string, IReadOnlyList<TfFeature>>(StringComparer.Ordinal);
        while (!reader.End)
        {
            var (field, wire) = reader.ReadTag();
            if (field == 1) { reader.Expect(wire, 2, "SequenceExample.context"); TfExample.ParseFeatures(reader.ReadLengthDelimited(), context); }
            else if (field == 2) { reader.Expect(wire, 2, "SequenceExample.feature_lists"); ParseFeatureLists(reader.ReadLengthDelimited(), lists); }
            else reader.Skip(wire);
        }
        return new TfSequenceExample(context, lists);
    }

    /// <summary>The serialized SequenceExample.</summary>
    public byte[] ToByteArray()
    {
        var writer = new ProtoWriter();
        writer.WriteMessage(1, c => TfExample.WriteFeatures(c, Context));
        writer.WriteMessage(2, lists =>
        {
            foreach (var (name, steps) in FeatureLists.OrderBy(f => f.Key, StringComparer.Ordinal))
                lists.WriteMessage(1, entry =>
                {
                    entry.WriteString(1, name);
                    entry.WriteMessage(2, list => { foreach (var step in steps) list.WriteMessage(1, step.WriteTo); });
                });
        });
        return writer.Written.ToArray();
    }

    /// <summary>"SequenceExample { context { length: int64[1] 2 }, lists { tokens: 2 steps } }".</summary>
    public override string ToString() =>
        $"SequenceExample {{ context {{ {string.Join(", ", Context.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}: {f.Value}"))} }}, " +
        $"lists {{ {string.Join(", ", FeatureLists.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}: {f.Value.Count} steps"))} }} }}";

    static void ParseFeatureLists(ReadOnlySpan<byte> data, Dictionary<string, IReadOnlyList<TfFeature>> into)
    {
        var reader = new ProtoReader(data, "tf.train.FeatureLists");
        while (!reader.End)
        {
            var (field, wire) = reader.ReadTag();
            if (field != 1) { reader.Skip(wire); continue; }
            reader.Expect(wire, 2, "a FeatureLists entry");
            var entry = new ProtoReader(reader.ReadLengthDelimited(), "tf.train.FeatureLists entry");
            string name = "";
            var steps = new List<TfFeature>();
            while (!entry.End)
            {
                var (entryField, entryWire) = entry.ReadTag();
                if (entryField == 1) { entry.Expect(entryWire, 2, "a feature list's name"); name = entry.ReadString(); }
                else if (entryField == 2)
                {
                    // A FeatureList given twice merges: its steps concatenate.
                    entry.Expect(entryWire, 2, "a feature list");
                    var list = new ProtoReader(entry.ReadLengthDelimited(), "tf.train.FeatureList");
                    while (!list.End)
                    {
                        var (listField, listWire) = list.ReadTag();
                        if (listField != 1) { list.Skip(listWire); continue; }
                        list.Expect(listWire, 2, "a step's feature");
                        steps.Add(TfFeature.Parse(list.ReadLengthDelimited()));
                    }
                }
                else entry.Skip(entryWire);
            }
            into[name] = [.. steps];
        }
    }
}
