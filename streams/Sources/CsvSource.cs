using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Types;
using Functional.Streams.Tables;
using Sylvan.Data.Csv;

namespace Functional.Streams;

public static partial class DataStream
{
    /// <summary>The rows of a CSV file, one element per row (see <see cref="CsvBatches"/> for the typing rules).</summary>
    public static DataStream<Row> Csv(string path, Schema? schema = null, int batchRows = 8192, char delimiter = ',', int inferRows = 1000) =>
        CsvBatches(path, schema, batchRows, delimiter, inferRows).Rows();

    /// <summary>
    /// The rows of a CSV file (with a header line) as record batches of <paramref name="batchRows"/>
    /// rows. Columns are typed by <paramref name="schema"/> (field names match the header;
    /// supported: int32, int64, float, double, boolean, string), or, when it is null, inferred
    /// from the first <paramref name="inferRows"/> rows: int64 if every value is an integer,
    /// double if every value is a number, boolean for true/false, string otherwise. Empty
    /// fields are nulls. A value that does not parse is an error naming the file, line and column.
    /// </summary>
    public static DataStream<RecordBatch> CsvBatches(string path, Schema? schema = null, int batchRows = 8192, char delimiter = ',', int inferRows = 1000)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (batchRows < 1) throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, "A batch needs at least 1 row.");
        return new DataStream<RecordBatch>($"csv({Path.GetFileName(path)})",
            (run, _) => ReadCsv(path, schema ?? InferCsvSchema(path, delimiter, inferRows), batchRows, delimiter, run));
    }

    /// <summary>The schema <see cref="CsvBatches"/> infers for <paramref name="path"/>.</summary>
    public static Schema InferCsvSchema(string path, char delimiter = ',', int inferRows = 1000)
    {
        using var csv = OpenCsv(path, delimiter);
        var kinds = Enumerable.Repeat(CsvKind.Unknown, csv.FieldCount).ToArray();
        for (int row = 0; row < inferRows && ReadCsvRow(csv, path, row); row++)
            for (int c = 0; c < kinds.Length; c++)
            {
                var text = csv.GetString(c);
                if (text.Length > 0) kinds[c] = Widen(kinds[c], text);
            }
        var fields = kinds.Select((kind, c) => new Field(csv.GetName(c), kind switch
        {
            CsvKind.Integer => Int64Type.Default,
            CsvKind.Number => DoubleType.Default,
            CsvKind.Boolean => BooleanType.Default,
            _ => (IArrowType)StringType.Default,
        }, nullable: true));
        return new Schema(fields, null);
    }

    enum CsvKind { Unknown, Integer, Number, Boolean, Text }

    static CsvKind Widen(CsvKind kind, string text)
    {
        bool integer = long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out _);
        bool number = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
        bool boolean = bool.TryParse(text, out _);
        return kind switch
        {
            CsvKind.Unknown => integer ? CsvKind.Integer : number ? CsvKind.Number : boolean ? CsvKind.Boolean : CsvKind.Text,
            CsvKind.Integer => integer ? CsvKind.Integer : number ? CsvKind.Number : CsvKind.Text,
            CsvKind.Number => number ? CsvKind.Number : CsvKind.Text,
            CsvKind.Boolean => boolean ? CsvKind.Boolean : CsvKind.Text,
            _ => CsvKind.Text,
        };
    }

    static CsvDataReader OpenCsv(string path, char delimiter)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No CSV file at '{path}'.", path);
        try
        {
            return CsvDataReader.Create(path, new CsvDataReaderOptions { HasHeaders = true, Delimiter = delimiter });
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException or FileNotFoundException or UnauthorizedAccessException))
        {
            // An empty file (no header), a first line longer than the reader's buffer, ... (the
            // reader reads ahead when it opens, so the line is not known).
            throw new InvalidDataException($"{path}: not readable as CSV where it starts: {e.Message}", e);
        }
    }

    static IEnumerable<Sourced<RecordBatch>> ReadCsv(string path, Schema schema, int batchRows, char delimiter, StreamRun run)
    {
        using var csv = OpenCsv(path, delimiter);
        var columns = schema.FieldsList.Select(field =>
        {
            int index = Enumerable.Range(0, csv.FieldCount).FirstOrDefault(i => csv.GetName(i) == field.Name, -1);
            if (index < 0) throw new InvalidDataException($"{path} has no column '{field.Name}'; its header is {string.Join(", ", Enumerable.Range(0, csv.FieldCount).Select(csv.GetName))}.");
            return new CsvColumn(field, index);
        }).ToArray();
        long row = 0;
        while (true)
        {
            run.Token.ThrowIfCancellationRequested();
            int count = 0;
            foreach (var column in columns) column.Start();
            while (count < batchRows && ReadCsvRow(csv, path, row + count))
            {
                foreach (var column in columns)
                {
                    var text = csv.GetString(column.Index);
                    if (!column.TryAppend(text))
                        throw new InvalidDataException(
                            $"{path}, line {row + count + 2}, column '{column.Field.Name}': cannot read '{text}' as {column.Field.DataType.Name}.");
                }
                count++;
            }
            if (count == 0) yield break;
            var batch = new RecordBatch(schema, columns.Select(c => c.Finish()), count);
            yield return new(batch, new Origin(path, row));
            row += count;
        }
    }

    /// <summary>The next row; a malformed file (an unclosed quote, a row with a different number of fields) names the file and line.</summary>
    static bool ReadCsvRow(CsvDataReader csv, string path, long row)
    {
        bool more;
        try { more = csv.Read(); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidDataException($"{path}, line {row + 2}: not valid CSV: {e.Message}", e);
        }
        if (more && csv.RowFieldCount != csv.FieldCount)
            throw new InvalidDataException($"{path}, line {row + 2}: {csv.RowFieldCount} fields, but the header has {csv.FieldCount}.");
        return more;
    }

    /// <summary>One column being parsed into an Arrow array, batch by batch.</summary>
    sealed class CsvColumn(Field field, int index)
    {
        IArrowArrayBuilder? builder;

        public Field Field { get; } = field;
        public int Index { get; } = index;

        public void Start() => builder = Field.DataType switch
        {
            Int32Type => new Int32Array.Builder(),
            Int64Type => new Int64Array.Builder(),
            FloatType => new FloatArray.Builder(),
            DoubleType => new DoubleArray.Builder(),
            BooleanType => new BooleanArray.Builder(),
            StringType => new StringArray.Builder(),
            var other => throw new NotSupportedException($"CSV column '{Field.Name}' is declared {other.Name}; supported: int32, int64, float, double, boolean, string."),
        };

        public bool TryAppend(string text)
        {
            var inv = CultureInfo.InvariantCulture;
            if (text.Length == 0 && builder is not StringArray.Builder)
            {
                if (!Field.IsNullable) return false;
                switch (builder)
                {
                    case Int32Array.Builder b: b.AppendNull(); break;
                    case Int64Array.Builder b: b.AppendNull(); break;
                    case FloatArray.Builder b: b.AppendNull(); break;
                    case DoubleArray.Builder b: b.AppendNull(); break;
                    case BooleanArray.Builder b: b.AppendNull(); break;
                }
                return true;
            }
            switch (builder)
            {
                case Int32Array.Builder b when int.TryParse(text, NumberStyles.Integer, inv, out var v): b.Append(v); return true;
                case Int64Array.Builder b when long.TryParse(text, NumberStyles.Integer, inv, out var v): b.Append(v); return true;
                case FloatArray.Builder b when float.TryParse(text, NumberStyles.Float, inv, out var v): b.Append(v); return true;
                case DoubleArray.Builder b when double.TryParse(text, NumberStyles.Float, inv, out var v): b.Append(v); return true;
                case BooleanArray.Builder b when bool.TryParse(text, out var v): b.Append(v); return true;
                case StringArray.Builder b: b.Append(text); return true;
                default: return false;
            }
        }

        public IArrowArray Finish() => builder switch
        {
            Int32Array.Builder b => b.Build(),
            Int64Array.Builder b => b.Build(),
            FloatArray.Builder b => b.Build(),
            DoubleArray.Builder b => b.Build(),
            BooleanArray.Builder b => b.Build(),
            StringArray.Builder b => b.Build(),
            _ => throw new InvalidOperationException("Start was not called."),
        };
    }
}
