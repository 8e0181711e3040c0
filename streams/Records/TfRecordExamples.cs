using System.Text;
using Apache.Arrow;

namespace Functional.Streams.Records;

public static partial class TfRecordFile
{
    /// <summary>
    /// Writes the rows of <paramref name="batches"/> to <paramref name="path"/> as tf.train.Examples,
    /// one per row and a feature per column (integers and booleans as int64, floating point as
    /// float32, strings and binary as bytes; fixed-size lists flattened, list columns variable;
    /// a null leaves the feature out), atomically. Compression by the file's name unless given.
    /// Returns the number of records written.
    /// </summary>
    public static long WriteExamples(string path, IEnumerable<RecordBatch> batches, TfRecordCompression? compression = null)
    {
        ArgumentNullException.ThrowIfNull(batches);
        using var writer = BeginWrite(path, compression);
        foreach (var batch in batches)
            foreach (var example in ExampleEncoding.ToExamples(batch)) writer.Write(example.ToByteArray());
        writer.Commit();
        return writer.Count;
    }

    /// <summary>
    /// As <see cref="WriteExamples"/>, but as tf.train.SequenceExamples: the
    /// <paramref name="sequenceColumns"/> (list columns) become feature lists with one feature per
    /// list element, the other columns context features.
    /// </summary>
    public static long WriteSequenceExamples(string path, IEnumerable<RecordBatch> batches, IReadOnlyCollection<string> sequenceColumns,
        TfRecordCompression? compression = null)
    {
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(sequenceColumns);
        var names = sequenceColumns.ToHashSet(StringComparer.Ordinal);
        using var writer = BeginWrite(path, compression);
        foreach (var batch in batches)
            foreach (var example in ExampleEncoding.ToSequenceExamples(batch, names)) writer.Write(example.ToByteArray());
        writer.Commit();
        return writer.Count;
    }

    /// <summary>
    /// A feature description for the tf.train.Examples in <paramref name="path"/>, from its first
    /// <paramref name="sampleRecords"/> records: a feature with the same number of values in each
    /// sampled record is fixed (a scalar for one value, a vector otherwise), any other variable;
    /// byte strings that are all UTF-8 are text. Check it before trusting it on a whole data set:
    /// a feature a later record lacks, or one whose length only happened to agree, still fails
    /// there. Sorted by name.
    /// </summary>
    public static IReadOnlyList<TfFeatureSpec> DescribeExamples(string path, int sampleRecords = 100, TfRecordCompression? compression = null)
    {
        if (sampleRecords < 1) throw new ArgumentOutOfRangeException(nameof(sampleRecords), sampleRecords, "Sample at least 1 record.");
        var seen = new SortedDictionary<string, (TfFeatureKind Kind, int? Count, int Records, bool Text)>(StringComparer.Ordinal);
        int records = 0;
        foreach (var record in ReadSourced(path, compression).Take(sampleRecords))
        {
            TfExample example;
            try { example = TfExample.Parse(record.Value); }
            catch (InvalidDataException e) { throw new InvalidDataException($"{record.Origin.Source}, record {record.Origin.Row}: {e.Message}", e); }
            foreach (var (name, feature) in example.Features)
            {
                var kind = feature.Kind;
                bool text = feature.BytesValues.All(IsUtf8);
                if (seen.TryGetValue(name, out var known))
                {
                    if (kind == TfFeatureKind.Empty) kind = known.Kind;
                    else if (known.Kind != TfFeatureKind.Empty && known.Kind != kind)
                        throw new InvalidDataException($"{path}, record {record.Origin.Row}: feature '{name}' holds {kind} values where earlier records hold {known.Kind}.");
                    seen[name] = (kind, known.Count == feature.Count ? known.Count : null, known.Records + 1, known.Text && text);
                }
                else seen[name] = (kind, feature.Count, 1, text);
            }
            records++;
        }
        return [.. seen.Select(f =>
        {
            var type = f.Value.Kind switch
            {
                TfFeatureKind.Int64 => TfFeatureType.Int64,
                TfFeatureKind.Float => TfFeatureType.Float32,
                _ => f.Value.Text ? TfFeatureType.String : TfFeatureType.Bytes,
            };
            bool fixedLength = f.Value.Records == records && f.Value.Count is > 0;
            return fixedLength ? TfFeatureSpec.Fixed(f.Key, type, f.Value.Count == 1 ? [] : [f.Value.Count!.Value]) : TfFeatureSpec.Variable(f.Key, type);
        })];
    }

    static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    static bool IsUtf8(byte[] bytes)
    {
        try { StrictUtf8.GetCharCount(bytes); return true; }
        catch (DecoderFallbackException) { return false; }
    }
}
