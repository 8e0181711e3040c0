using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Types;
using Functional.Streams.Tables;

namespace Functional.Streams;

public static partial class DataStream
{
    /// <summary>The rows of a CSV file, one element per row (see <see cref="CsvBatches(string, CsvOptions, int)"/>).</summary>
    public static DataStream<Row> Csv(string path, Schema? schema = null, int batchRows = 8192, char delimiter = ',', int inferRows = 1000) =>
        CsvBatches(path, schema, batchRows, delimiter, inferRows).Rows();

    /// <summary>The rows of a CSV file laid out as <paramref name="options"/> say, one element per row.</summary>
    public static DataStream<Row> Csv(string path, CsvOptions options, int batchRows = 8192) =>
        CsvBatches(path, options, batchRows).Rows();

    /// <summary>
    /// The rows of a CSV file with a header line as record batches of <paramref name="batchRows"/>
    /// rows: the columns <paramref name="schema"/> declares, of its types (field names match the
    /// header), or, when it is null, every column with types inferred from the first
    /// <paramref name="inferRows"/> rows. See <see cref="CsvBatches(string, CsvOptions, int)"/>.
    /// </summary>
    public static DataStream<RecordBatch> CsvBatches(string path, Schema? schema = null, int batchRows = 8192, char delimiter = ',', int inferRows = 1000)
    {
        var options = new CsvOptions { Delimiter = delimiter, InferRows = inferRows };
        if (schema is null) return CsvBatches(path, options, batchRows);
        ArgumentNullException.ThrowIfNull(path);
        if (batchRows < 1) throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, "A batch needs at least 1 row.");
        return new DataStream<RecordBatch>($"csv({Path.GetFileName(path)})", (run, _) => ReadCsv(path, schema, options, batchRows, run));
    }

    /// <summary>
    /// The rows of a CSV file as record batches of <paramref name="batchRows"/> rows, laid out
    /// and typed as <paramref name="options"/> say (a header or not, lines to skip, delimiter,
    /// quote, selected columns, declared types and defaults; gzip for names ending ".gz").
    /// Supported types: int32, int64, float, double, boolean, string. Empty fields are nulls
    /// unless the column has a default. A value that does not parse, or a row with another
    /// number of fields, is an error naming the file, line and column.
    /// </summary>
    public static DataStream<RecordBatch> CsvBatches(string path, CsvOptions options, int batchRows = 8192)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        if (batchRows < 1) throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, "A batch needs at least 1 row.");
        if (options.SkipLines < 0) throw new ArgumentOutOfRangeException(nameof(options), options.SkipLines, "SkipLines cannot be negative.");
        if (options.InferRows < 0) throw new ArgumentOutOfRangeException(nameof(options), options.InferRows, "InferRows cannot be negative.");
        return new DataStream<RecordBatch>($"csv({Path.GetFileName(path)})",
            (run, _) => ReadCsv(path, InferCsvSchema(path, options), options, batchRows, run));
    }

    /// <summary>The schema <see cref="CsvBatches(string, Schema?, int, char, int)"/> infers for <paramref name="path"/>.</summary>
    public static Schema InferCsvSchema(string path, char delimiter = ',', int inferRows = 1000) =>
        InferCsvSchema(path, new CsvOptions { Delimiter = delimiter, InferRows = inferRows });

    /// <summary>
    /// The schema <see cref="CsvBatches(string, CsvOptions, int)"/> reads <paramref name="path"/>
    /// with: the selected columns, typed as declared or inferred from the first rows.
    /// </summary>
    public static Schema InferCsvSchema(string path, CsvOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var csv = CsvFile.Open(path, options);
        var declared = options.ColumnTypes ?? new Dictionary<string, IArrowType>();
        foreach (var (what, names) in new[] { ("a type is declared", declared.Keys), ("a default is given", options.ColumnDefaults?.Keys ?? []) })
            foreach (var name in names)
                if (!csv.Names.Contains(name))
                    throw new ArgumentException($"{path}: {what} for column '{name}', which the file does not have; its columns are {string.Join(", ", csv.Names)}.", nameof(options));
        var selected = csv.Selected;
        var kinds = new CsvKind[selected.Length];
        bool allDeclared = selected.All(index => declared.ContainsKey(csv.Names[index]));
        for (int row = 0; !allDeclared && row < options.InferRows && csv.Read(); row++)
            for (int c = 0; c < selected.Length; c++)
            {
                if (csv.Field(selected[c]) is { Length: > 0 } text) kinds[c] = Widen(kinds[c], text);
            }
        var fields = selected.Select((index, c) =>
        {
            var name = csv.Names[index];
            var type = declared.TryGetValue(name, out var given) ? given : kinds[c] switch
            {
                CsvKind.Integer => Int64Type.Default,
                CsvKind.Number => DoubleType.Default,
                CsvKind.Boolean => BooleanType.Default,
                _ => (IArrowType)StringType.Default,
            };
            return new Field(name, type, nullable: options.ColumnDefaults?.ContainsKey(name) != true);
        });
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

    static IEnumerable<Sourced<RecordBatch>> ReadCsv(string path, Schema schema, CsvOptions options, int batchRows, StreamRun run)
    {
        using var csv = CsvFile.Open(path, options);
        var columns = schema.FieldsList.Select(field =>
        {
            int index = System.Array.IndexOf(csv.Names, field.Name);
            if (index < 0) throw new InvalidDataException($"{path} has no column '{field.Name}'; its columns are {string.Join(", ", csv.Names)}.");
            string? fallback = options.ColumnDefaults?.GetValueOrDefault(field.Name);
            var column = new CsvColumn(field, index, fallback);
            if (fallback is not null && !column.Accepts(fallback))
                throw new ArgumentException($"The default '{fallback}' of CSV column '{field.Name}' is not a {field.DataType.Name} value.", nameof(options));
            return column;
        }).ToArray();
        long row = 0;
        while (true)
        {
            run.Token.ThrowIfCancellationRequested();
            int count = 0;
            foreach (var column in columns) column.Start();
            while (count < batchRows && csv.Read())
            {
                foreach (var column in columns)
                {
                    var text = csv.Field(column.Index);
                    if (!column.TryAppend(text))
                        throw new InvalidDataException(string.IsNullOrEmpty(text)
                            ? $"{path}, line {csv.Line}, column '{column.Field.Name}': an empty field in a column declared without nulls."
                            : $"{path}, line {csv.Line}, column '{column.Field.Name}': cannot read '{text}' as {column.Field.DataType.Name}.");
                }
                count++;
            }
            if (count == 0) yield break;
            var batch = new RecordBatch(schema, columns.Select(c => c.Finish()), count);
            yield return new(batch, new Origin(path, row));
            row += count;
        }
    }

    /// <summary>One column being parsed into an Arrow array, batch by batch.</summary>
    sealed class CsvColumn(Field field, int index, string? fallback)
    {
        IArrowArrayBuilder? builder;

        public Field Field { get; } = field;
        public int Index { get; } = index;

        /// <summary>Whether <paramref name="text"/> parses as this column's type.</summary>
        public bool Accepts(string text)
        {
            Start();
            return TryAppend(text);
        }

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

        /// <summary>Appends a field's text; null (a missing-value marker) and, except in text
        /// columns, "" are missing: the default, or a null.</summary>
        public bool TryAppend(string? text)
        {
            var inv = CultureInfo.InvariantCulture;
            bool missing = text is null || (text.Length == 0 && builder is not StringArray.Builder);
            if (missing && fallback is not null) (text, missing) = (fallback, false);
            if (missing)
            {
                if (!Field.IsNullable) return false;
                switch (builder)
                {
                    case Int32Array.Builder b: b.AppendNull(); break;
                    case Int64Array.Builder b: b.AppendNull(); break;
                    case FloatArray.Builder b: b.AppendNull(); break;
                    case DoubleArray.Builder b: b.AppendNull(); break;
                    case BooleanArray.Builder b: b.AppendNull(); break;
                    case StringArray.Builder b: b.AppendNull(); break;
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
