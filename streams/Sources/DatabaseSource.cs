using System.Data;
using System.Data.Common;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace Functional.Streams;

public static partial class DataStream
{
    /// <summary>
    /// The rows of an ADO.NET query (any provider: SQLite, PostgreSQL, SQL Server, ...) as record
    /// batches of up to <paramref name="batchRows"/> rows, read as the consumer takes them, so
    /// memory stays bounded by one batch whatever the result's size. Each run calls
    /// <paramref name="connect"/> for a connection (opened if it is closed, disposed after the
    /// run) and runs <paramref name="query"/> with <paramref name="parameters"/> (named as the
    /// provider names them, e.g. "@min"). Columns are typed from the reader's schema: integers,
    /// booleans, float32/float64 and decimals (as float64), text (and GUIDs, as text), binary,
    /// dates and times (as UTC timestamps in microseconds); NULLs are nulls. A column of another
    /// type is an error naming it: cast it in the query.
    /// </summary>
    /// <example><c>DataStream.FromDatabase(() => new SqliteConnection("Data Source=shop.db"), "SELECT price, quantity, returned FROM orders")</c></example>
    public static DataStream<RecordBatch> FromDatabase(Func<DbConnection> connect, string query, int batchRows = 8192,
        IReadOnlyDictionary<string, object?>? parameters = null, string name = "database")
    {
        ArgumentNullException.ThrowIfNull(connect);
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        if (batchRows < 1) throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, "A batch needs at least 1 row.");
        return new DataStream<RecordBatch>(name, (run, _) => ReadQuery(connect, query, parameters ?? new Dictionary<string, object?>(), batchRows, name, run));
    }

    /// <summary>
    /// <paramref name="shards"/> streams that together read <paramref name="query"/>'s rows once:
    /// shard i reads the rows whose integer <paramref name="keyColumn"/> lies in the i-th of
    /// equal ranges between the key's smallest and largest value (measured at the start of each
    /// run; rows with a NULL key are in no shard). Read them in parallel with
    /// <see cref="Interleave{T}"/>, or one per process in distributed training (shard
    /// <c>Communicator.World.Rank</c>). The query is wrapped as a sub-query
    /// (<c>SELECT * FROM (query) AS shard_source WHERE key &gt;= @shard_low AND key &lt; @shard_high</c>), so the key column
    /// must be one of its result's columns and the SQL dialect must accept that form (SQLite,
    /// PostgreSQL, MySQL and SQL Server do).
    /// </summary>
    public static IReadOnlyList<DataStream<RecordBatch>> FromDatabaseShards(Func<DbConnection> connect, string query, string keyColumn, int shards,
        int batchRows = 8192, IReadOnlyDictionary<string, object?>? parameters = null, string name = "database")
    {
        ArgumentNullException.ThrowIfNull(connect);
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyColumn);
        if (shards < 1) throw new ArgumentOutOfRangeException(nameof(shards), shards, "At least 1 shard.");
        if (batchRows < 1) throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, "A batch needs at least 1 row.");
        var given = parameters ?? new Dictionary<string, object?>();
        string bounds = $"SELECT MIN({keyColumn}), MAX({keyColumn}) FROM ({query}) AS shard_source";
        string part = $"SELECT * FROM ({query}) AS shard_source WHERE {keyColumn} >= @shard_low AND {keyColumn} < @shard_high";
        return [.. Enumerable.Range(0, shards).Select(shard => new DataStream<RecordBatch>($"{name} shard {shard} of {shards}", (run, _) =>
        {
            var (low, high) = KeyRange(connect, bounds, given, name);
            // Ranges of equal width over [low, high]; the last ends past high so it holds it.
            var width = ((decimal)high - low + 1) / shards;
            long from = (long)Math.Floor(low + width * shard);
            long to = shard == shards - 1 ? high + 1 : (long)Math.Floor(low + width * (shard + 1));
            var withRange = new Dictionary<string, object?>(given) { ["@shard_low"] = from, ["@shard_high"] = to };
            return ReadQuery(connect, part, withRange, batchRows, $"{name} shard {shard}", run);
        }))];
    }

    static (long Low, long High) KeyRange(Func<DbConnection> connect, string bounds, IReadOnlyDictionary<string, object?> parameters, string name)
    {
        using var connection = Opened(connect, name);
        using var command = Command(connection, bounds, parameters);
        try
        {
            using var reader = command.ExecuteReader();
            if (!reader.Read() || reader.IsDBNull(0)) return (0, -1);
            return (Convert.ToInt64(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture),
                Convert.ToInt64(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (DbException e)
        {
            throw new InvalidOperationException($"{name}: finding the shard key's range failed ({bounds}): {e.Message}", e);
        }
        catch (Exception e) when (e is InvalidCastException or FormatException or OverflowException)
        {
            throw new InvalidOperationException($"{name}: the shard key is not an integer column ({bounds}): {e.Message}", e);
        }
    }

    static DbConnection Opened(Func<DbConnection> connect, string name)
    {
        var connection = connect() ?? throw new InvalidOperationException($"{name}: the connection factory returned null.");
        try
        {
            if (connection.State != ConnectionState.Open) connection.Open();
            return connection;
        }
        catch (DbException e)
        {
            connection.Dispose();
            throw new InvalidOperationException($"{name}: cannot open the connection: {e.Message}", e);
        }
    }

    static DbCommand Command(DbConnection connection, string query, IReadOnlyDictionary<string, object?> parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = query;
        foreach (var (key, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = key;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }
        return command;
    }

    static IEnumerable<Sourced<RecordBatch>> ReadQuery(Func<DbConnection> connect, string query, IReadOnlyDictionary<string, object?> parameters,
        int batchRows, string name, StreamRun run)
    {
        using var connection = Opened(connect, name);
        using var command = Command(connection, query, parameters);
        DbDataReader reader;
        try { reader = command.ExecuteReader(); }
        catch (DbException e) { throw new InvalidOperationException($"{name}: the query failed ({query}): {e.Message}", e); }
        using (reader)
        {
            var columns = DatabaseColumn.For(reader, name);
            var schema = new Schema(columns.Select(c => c.Field), null);
            long row = 0;
            while (true)
            {
                int count = 0;
                foreach (var column in columns) column.Start();
                while (count < batchRows)
                {
                    run.Token.ThrowIfCancellationRequested();
                    bool more;
                    try { more = reader.Read(); }
                    catch (DbException e) { throw new InvalidOperationException($"{name}: reading row {row + count} failed: {e.Message}", e); }
                    if (!more) break;
                    foreach (var column in columns) column.Append(reader, name, row + count);
                    count++;
                }
                if (count == 0) yield break;
                yield return new(new RecordBatch(schema, columns.Select(c => c.Finish()), count), new Origin(name, row));
                row += count;
                if (count < batchRows) yield break;
            }
        }
    }
}
