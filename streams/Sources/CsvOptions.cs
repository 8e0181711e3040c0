using Apache.Arrow.Types;

namespace Functional.Streams;

/// <summary>
/// How a CSV file is laid out and read, for files as people have them (pandas' <c>read_csv</c>,
/// tf.data's <c>make_csv_dataset</c>): a header or not, lines to skip before it, the delimiter
/// and quote, the columns to read, their types and the values for empty fields. Files whose
/// name ends in ".gz" are read through gzip. Blank lines are skipped.
/// </summary>
/// <example><c>new CsvOptions { HasHeader = false, SkipLines = 1 }</c> reads scikit-learn's
/// breast_cancer.csv (its first line counts rows and features), naming the columns column_0, column_1, ...</example>
public sealed record CsvOptions
{
    /// <summary>The field delimiter (',' by default; ';', '\t', ' ', ...).</summary>
    public char Delimiter { get; init; } = ',';

    /// <summary>The quote character: a field in quotes may hold the delimiter, line breaks and doubled quotes.</summary>
    public char Quote { get; init; } = '"';

    /// <summary>Whether the first line read (after <see cref="SkipLines"/>) names the columns.</summary>
    public bool HasHeader { get; init; } = true;

    /// <summary>Lines to skip at the start of the file, before the header or the first row.</summary>
    public int SkipLines { get; init; }

    /// <summary>
    /// The columns' names, one per field: for a file without a header, or in place of its header.
    /// Without a header and without names, columns are named column_0, column_1, ...
    /// </summary>
    public IReadOnlyList<string>? ColumnNames { get; init; }

    /// <summary>The columns to read, in this order (all of them when null).</summary>
    public IReadOnlyList<string>? SelectColumns { get; init; }

    /// <summary>
    /// Column types by name (int32, int64, float, double, boolean, string); columns not named
    /// here are inferred from the first <see cref="InferRows"/> rows (int64 if every value is an
    /// integer, double if every value is a number, boolean for true/false, string otherwise).
    /// </summary>
    public IReadOnlyDictionary<string, IArrowType>? ColumnTypes { get; init; }

    /// <summary>Values for empty fields by column name, as text parsed by the column's type; other
    /// columns read an empty field as null (or an empty string).</summary>
    public IReadOnlyDictionary<string, string>? ColumnDefaults { get; init; }

    /// <summary>Field values that mean "missing" (pandas' <c>na_values</c>, e.g. "NA", "?"): read as empty fields.</summary>
    public IReadOnlyCollection<string>? MissingValues { get; init; }

    /// <summary>A character that starts comment lines, which are skipped (none by default: a line starting with '#' is data).</summary>
    public char? Comment { get; init; }

    /// <summary>Rows read to infer the types of columns not in <see cref="ColumnTypes"/>.</summary>
    public int InferRows { get; init; } = 1000;

    /// <summary>The name of field <paramref name="index"/> in a file without header or names.</summary>
    public static string GeneratedName(int index) => $"column_{index}";
}
