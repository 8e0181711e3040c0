using Apache.Arrow;
using Functional.Streams.Records;

namespace Functional.Streams;

public static partial class DataStream
{
    /// <summary>
    /// The records of TFRecord files as byte arrays (tf.data.TFRecordDataset). With several
    /// files, <paramref name="cycleLength"/> of them are read at once (each on its own thread when
    /// it is above 1) and their records interleaved, one from each in turn. Compression by each
    /// file's name unless given. A damaged record is an error naming the file, record and offset.
    /// </summary>
    public static DataStream<byte[]> TfRecords(IReadOnlyList<string> paths, TfRecordCompression? compression = null, int cycleLength = 1)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (paths.Count == 0) throw new ArgumentException("TfRecords needs at least one file.", nameof(paths));
        if (paths.Any(p => p is null)) throw new ArgumentException("A TFRecord file path is null.", nameof(paths));
        var files = paths.Select(path => new DataStream<byte[]>($"tfrecord({Path.GetFileName(path)})",
            (run, _) => TfRecordFile.ReadSourced(path, compression, run.Token))).ToArray();
        return files.Length == 1 ? files[0] : Interleave(files, cycleLength, parallel: cycleLength > 1);
    }

    /// <summary>The records of one TFRecord file (see <see cref="TfRecords(IReadOnlyList{string}, TfRecordCompression?, int)"/>).</summary>
    public static DataStream<byte[]> TfRecords(string path, TfRecordCompression? compression = null) => TfRecords([path], compression);

    /// <summary>
    /// tf.train.Examples from TFRecord files as record batches of up to <paramref name="batchRows"/>
    /// rows, one column per feature in <paramref name="features"/> (tf.io.parse_example's feature
    /// description; see <see cref="TfFeatureSpec"/>); features not described are skipped. Files
    /// are interleaved as in <see cref="TfRecords(IReadOnlyList{string}, TfRecordCompression?, int)"/>.
    /// A record that does not match its description is an error naming the file, the record and
    /// the feature.
    /// </summary>
    /// <example><c>DataStream.TfRecordExamples(DataStream.Glob("data/train-*.tfrecord.gz"), [TfFeatureSpec.Fixed("image", TfFeatureType.Float32, [28, 28]), TfFeatureSpec.Fixed("label", TfFeatureType.Int64)])</c></example>
    public static DataStream<RecordBatch> TfRecordExamples(IReadOnlyList<string> paths, IReadOnlyList<TfFeatureSpec> features, int batchRows = 1024,
        TfRecordCompression? compression = null, int cycleLength = 1)
    {
        var columns = Columns(features, nameof(features), sequence: false);
        return ParsedRecords(TfRecords(paths, compression, cycleLength), "parse examples", batchRows, columns, (record, where, own) =>
        {
            var example = TfExample.Parse(record);
            foreach (var column in own) column.Add(example.Features.GetValueOrDefault(column.Spec.Name), where);
        });
    }

    /// <summary>
    /// tf.train.SequenceExamples from TFRecord files as record batches: a column per context
    /// feature (as <see cref="TfRecordExamples"/>) and a list column per sequence feature, one
    /// element per step, each step of the fixed shape its <see cref="TfFeatureSpec.Fixed"/>
    /// description gives (tf.io.FixedLenSequenceFeature); a record without a feature list has no steps.
    /// </summary>
    public static DataStream<RecordBatch> TfRecordSequenceExamples(IReadOnlyList<string> paths, IReadOnlyList<TfFeatureSpec> context,
        IReadOnlyList<TfFeatureSpec> sequence, int batchRows = 1024, TfRecordCompression? compression = null, int cycleLength = 1)
    {
        var contextColumns = Columns(context, nameof(context), sequence: false);
        var sequenceColumns = Columns(sequence, nameof(sequence), sequence: true);
        if (sequence.FirstOrDefault(s => s.IsVariable) is { } variable)
            throw new ArgumentException($"Sequence feature '{variable.Name}' is variable-length; each step of a sequence feature has a fixed shape (TfFeatureSpec.Fixed).", nameof(sequence));
        if (contextColumns.Select(c => c.Spec.Name).Intersect(sequenceColumns.Select(c => c.Spec.Name)).FirstOrDefault() is { } both)
            throw new ArgumentException($"'{both}' is described as both a context and a sequence feature; columns need distinct names.", nameof(sequence));
        return ParsedRecords(TfRecords(paths, compression, cycleLength), "parse sequence examples", batchRows, [.. contextColumns, .. sequenceColumns], (record, where, own) =>
        {
            var example = TfSequenceExample.Parse(record);
            foreach (var column in own)
                if (column.IsSequence) column.AddSteps(example.FeatureLists.GetValueOrDefault(column.Spec.Name), where);
                else column.Add(example.Context.GetValueOrDefault(column.Spec.Name), where);
        });
    }

    static FeatureColumn[] Columns(IReadOnlyList<TfFeatureSpec> specs, string parameter, bool sequence)
    {
        ArgumentNullException.ThrowIfNull(specs, parameter);
        if (specs.Any(s => s is null)) throw new ArgumentException("A feature description is null.", parameter);
        if (specs.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ArgumentException($"Feature '{twice.Key}' is described twice.", parameter);
        return [.. specs.Select(s => new FeatureColumn(s, sequence))];
    }

    static DataStream<RecordBatch> ParsedRecords(DataStream<byte[]> records, string name, int batchRows,
        FeatureColumn[] columns, Action<byte[], Func<string>, FeatureColumn[]> add)
    {
        if (batchRows < 1) throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, "A batch needs at least 1 row.");
        if (columns.Length == 0) throw new ArgumentException("Describe at least one feature to read.");
        var schema = new Schema(columns.Select(c => c.Field), null);
        return records.Then(name, (items, run) => Parsed(items, run, schema, columns, batchRows, add));
    }

    static IEnumerable<Sourced<RecordBatch>> Parsed(IEnumerable<Sourced<byte[]>> records, StreamRun run, Schema schema, FeatureColumn[] columns,
        int batchRows, Action<byte[], Func<string>, FeatureColumn[]> add)
    {
        // Each run fills columns of its own, so a stream can run twice at once.
        var own = columns.Select(c => new FeatureColumn(c.Spec, c.IsSequence)).ToArray();
        int count = 0;
        Origin? first = null;
        foreach (var record in records)
        {
            run.Token.ThrowIfCancellationRequested();
            var origin = record.Origin;
            string Where() => $"{origin.Source}, record {origin.Row}";
            try { add(record.Value, Where, own); }
            catch (InvalidDataException e) when (!e.Message.StartsWith(origin.Source, StringComparison.Ordinal))
            {
                throw new InvalidDataException($"{Where()}: {e.Message}", e);
            }
            first ??= origin;
            if (++count == batchRows)
            {
                yield return new(new RecordBatch(schema, own.Select(c => c.Build()), count), first.Value);
                (count, first) = (0, null);
            }
        }
        if (count > 0) yield return new(new RecordBatch(schema, own.Select(c => c.Build()), count), first!.Value);
    }
}
