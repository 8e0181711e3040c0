using System.Data.Common;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace Functional.Streams;

/// <summary>One column of a query's result being read into an Arrow array, typed from the reader's schema.</summary>
internal sealed class DatabaseColumn
{
    readonly int ordinal;
    readonly Func<IArrowArrayBuilder> start;
    readonly Action<IArrowArrayBuilder, DbDataReader, int> append;
    readonly Action<IArrowArrayBuilder> appendNull;
    readonly Func<IArrowArrayBuilder, IArrowArray> finish;
    IArrowArrayBuilder? builder;

    DatabaseColumn(int ordinal, Field field, Type type, Func<IArrowArrayBuilder> start, Action<IArrowArrayBuilder, DbDataReader, int> append,
        Action<IArrowArrayBuilder> appendNull, Func<IArrowArrayBuilder, IArrowArray> finish) =>
        (this.ordinal, Field, Type, this.start, this.append, this.appendNull, this.finish) = (ordinal, field, type, start, append, appendNull, finish);

    public Field Field { get; }

    /// <summary>The .NET type the column's values have in the reader's schema.</summary>
    Type Type { get; }

    /// <summary>The columns of <paramref name="reader"/>'s result.</summary>
    public static DatabaseColumn[] For(DbDataReader reader, string source)
    {
        var schema = reader.CanGetColumnSchema() ? reader.GetColumnSchema() : null;
        return [.. Enumerable.Range(0, reader.FieldCount).Select(i =>
        {
            var name = reader.GetName(i);
            var type = reader.GetFieldType(i);
            bool nullable = schema?[i].AllowDBNull ?? true;
            return Of(i, name, Nullable.GetUnderlyingType(type) ?? type, nullable)
                ?? throw new NotSupportedException($"{source}: column '{name}' is {type.Name}, which has no column form; cast it in the query to a number, text, binary or a timestamp.");
        })];
    }

    static DatabaseColumn? Of(int i, string name, Type type, bool nullable)
    {
        DatabaseColumn Make<TBuilder>(IArrowType arrow, Action<TBuilder, DbDataReader, int> add, Action<TBuilder> addNull, Func<TBuilder, IArrowArray> build)
            where TBuilder : IArrowArrayBuilder, new() =>
            new(i, new Field(name, arrow, nullable), type, () => new TBuilder(), (b, r, o) => add((TBuilder)b, r, o), b => addNull((TBuilder)b), b => build((TBuilder)b));

        return type switch
        {
            _ when type == typeof(long) => Make<Int64Array.Builder>(Int64Type.Default, (b, r, o) => b.Append(r.GetInt64(o)), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(int) => Make<Int32Array.Builder>(Int32Type.Default, (b, r, o) => b.Append(r.GetInt32(o)), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(short) => Make<Int16Array.Builder>(Int16Type.Default, (b, r, o) => b.Append(r.GetInt16(o)), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(byte) => Make<UInt8Array.Builder>(UInt8Type.Default, (b, r, o) => b.Append(r.GetByte(o)), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(bool) => Make<BooleanArray.Builder>(BooleanType.Default, (b, r, o) => b.Append(r.GetBoolean(o)), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(float) => Make<FloatArray.Builder>(FloatType.Default, (b, r, o) => b.Append(r.GetFloat(o)), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(double) => Make<DoubleArray.Builder>(DoubleType.Default, (b, r, o) => b.Append(r.GetDouble(o)), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(decimal) => Make<DoubleArray.Builder>(DoubleType.Default, (b, r, o) => b.Append((double)r.GetDecimal(o)), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(string) => Make<StringArray.Builder>(StringType.Default, (b, r, o) => b.Append(r.GetString(o)), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(Guid) => Make<StringArray.Builder>(StringType.Default, (b, r, o) => b.Append(r.GetGuid(o).ToString()), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(byte[]) => Make<BinaryArray.Builder>(BinaryType.Default, (b, r, o) => b.Append(((byte[])r.GetValue(o)).AsSpan()), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(DateTime) => Make<TimestampArray.Builder>(Microseconds, (b, r, o) => b.Append(Utc(r.GetDateTime(o))), b => b.AppendNull(), b => b.Build()),
            _ when type == typeof(DateTimeOffset) => Make<TimestampArray.Builder>(Microseconds, (b, r, o) => b.Append(r.GetFieldValue<DateTimeOffset>(o)), b => b.AppendNull(), b => b.Build()),
            _ => null,
        };
    }

    static readonly TimestampType Microseconds = new(TimeUnit.Microsecond, "UTC");

    /// <summary>A DateTime of unspecified kind is taken as UTC (databases store no zone with it).</summary>
    static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, value.Kind == DateTimeKind.Local ? DateTimeKind.Local : DateTimeKind.Utc));

    public void Start() => builder = start();

    public void Append(DbDataReader reader, string source, long row)
    {
        if (reader.IsDBNull(ordinal)) { appendNull(builder!); return; }
        // SQLite types each value, not each column (a text in a column declared INTEGER), and
        // its reader would turn such a value into 0 without complaint.
        var actual = reader.GetFieldType(ordinal);
        bool widened = Type == typeof(double) && (actual == typeof(long) || actual == typeof(int) || actual == typeof(float));
        if (actual != Type && !widened)
            throw new InvalidDataException($"{source}, row {row}, column '{Field.Name}': the value '{reader.GetValue(ordinal)}' is {actual.Name}, where the column is {Type.Name}.");
        try { append(builder!, reader, ordinal); }
        catch (Exception e) when (e is InvalidCastException or FormatException or OverflowException)
        {
            throw new InvalidDataException($"{source}, row {row}, column '{Field.Name}': cannot read the value as {Type.Name}: {e.Message}", e);
        }
    }

    public IArrowArray Finish() => finish(builder!);
}
