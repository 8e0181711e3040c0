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
    /// type is an error naming it: cast it in the query. <paramref name="configure"/> sets up
    /// the command (a timeout, a transaction) before it runs. The factory gives the run its own
    /// connection, which the run disposes: return a new one each call, not a shared one.
    /// </summary>
    /// <example><c>DataStream.FromDatabase(() => new SqliteConnection("Data Source=shop.db"), "SELECT price, quantity, returned FROM orders")</c></example>
    public static DataStream<RecordBatch> FromDatabase(Func<DbConnection> connect, string query, int batchRows = 8192,
        IReadOnlyDictionary<string, object?>? parameters = null, string name = "database", Action<DbCommand>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(connect);
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        if (batchRows < 1) throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, "A batch needs at least 1 row.");
        var given = parameters ?? new Dictionary<string, object?>();
        return new DataStream<RecordBatch>(name, (run, _) => ReadQuery(connect, query, given, configure, batchRows, name, run));
    }

    /// <summary>
    /// <paramref name="shards"/> streams that together read <paramref name="query"/>'s rows
    /// once, split by ranges of its integer <paramref name="keyColumn"/>: the boundaries divide
    /// <paramref name="keyRange"/> (or, when it is null, the key's smallest to largest value,
    /// measured at the start of each shard's run) into equal parts; the first shard also takes
    /// every key below them and the last every key above, so each row with a non-NULL key is in
    /// exactly one shard as long as all shards use the same boundaries. Give
    /// <paramref name="keyRange"/> when processes read a table that changes while they start.
    /// Read the shards in parallel with <see cref="Interleave{T}"/>, or one per process in
    /// distributed training (shard <c>Communicator.World.Rank</c>). The query is wrapped as a
    /// sub-query (<c>SELECT * FROM (query) AS shard_source WHERE key &gt;= @shard_low AND key &lt; @shard_high</c>),
    /// so the key column must be one of its result's columns and the SQL dialect must accept
    /// that form (SQLite, PostgreSQL, MySQL and SQL Server do); the key column's name is written
    /// into the SQL as given (quote it yourself if it needs quotes).
    /// </summary>
    public static IReadOnlyList<DataStream<RecordBatch>> FromDatabaseShards(Func<DbConnection> connect, string query, string keyColumn, int shards,
        int batchRows = 8192, IReadOnlyDictionary<string, object?>? parameters = null, string name = "database", (long Low, long High)? keyRange = null,
        Action<DbCommand>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(connect);
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyColumn);
        if (shards < 1) throw new ArgumentOutOfRangeException(nameof(shards), shards, "At least 1 shard.");
        if (batchRows < 1) throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, "A batch needs at least 1 row.");
        if (keyRange is { } range && range.High < range.Low) throw new ArgumentException($"The key range's high end ({range.High}) is below its low end ({range.Low}).", nameof(keyRange));
        var given = parameters ?? new Dictionary<string, object?>();
        string bounds = $"SELECT MIN({keyColumn}), MAX({keyColumn}) FROM ({query}) AS shard_source";
        string Part(bool below, bool above) => $"SELECT * FROM ({query}) AS shard_source WHERE {keyColumn} IS NOT NULL" +
            (below ? $" AND {keyColumn} >= @shard_low" : "") + (above ? $" AND {keyColumn} < @shard_high" : "");
        return [.. Enumerable.Range(0, shards).Select(shard => new DataStream<RecordBatch>($"{name} shard {shard} of {shards}", (run, _) =>
        {
            var (low, high) = keyRange ?? KeyRange(connect, bounds, given, configure, name);
            // Equal parts of [low, high]; the first and last shards are open-ended.
            decimal width = ((decimal)high - low + 1) / shards;
            var withRange = new Dictionary<string, object?>(given)
            {
                ["@shard_low"] = (long)Math.Floor(low + width * shard),
                ["@shard_high"] = shard == shards - 1 ? 0L : (long)Math.Floor(low + width * (shard + 1)),
            };
            return ReadQuery(connect, Part(below: shard > 0, above: shard < shards - 1), withRange, configure, batchRows, $"{name} shard {shard}", run);
        }))];
    }

    static (long Low, long High) KeyRange(Func<DbConnection> connect, string bounds, IReadOnlyDictionary<string, object?> parameters,
        Action<DbCommand>? configure, string name)
    {
        using var connection = Opened(connect, name);
        using var command = Command(connection, bounds, parameters, configure);
        try
        {
            using var reader = command.ExecuteReader();
            if (!reader.Read() || reader.IsDBNull(0)) return (0, 0);
            return (IntegerKey(reader.GetValue(0), bounds, name), IntegerKey(reader.GetValue(1), bounds, name));
        }
        catch (DbException e)
        {
            throw new InvalidOperationException($"{name}: finding the shard key's range failed ({bounds}): {e.Message}", e);
        }
    }

    static long IntegerKey(object value, string bounds, string name) => value switch
    {
        long or int or short or byte or sbyte or ushort or uint => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture),
        decimal d when d == Math.Floor(d) && d >= long.MinValue && d <= long.MaxValue => (long)d,
        _ => throw new InvalidOperationException($"{name}: the shard key is {value.GetType().Name} ({value}), not an integer ({bounds}); shard on an integer column."),
    };

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

    static DbCommand Command(DbConnection connection, string query, IReadOnlyDictionary<string, object?> parameters, Action<DbCommand>? configure)
    {
        var command = connection.CreateCommand();
        command.CommandText = query;
        configure?.Invoke(command);
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
        Action<DbCommand>? configure, int batchRows, string name, StreamRun run)
    {
        using var connection = Opened(connect, name);
        using var command = Command(connection, query, parameters, configure);
        DbDataReader reader;
        try { reader = command.ExecuteReader(); }
        catch (DbException e) { throw new InvalidOperationException($"{name}: the query failed ({query}): {e.Message}", e); }
        bool finished = false;
        try
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
                    if (!more) { finished = true; break; }
                    foreach (var column in columns) column.Append(reader, name, row + count);
                    count++;
                }
                if (count == 0) yield break;
                yield return new(new RecordBatch(schema, columns.Select(c => c.Finish()), count), new Origin(name, row));
                row += count;
                if (finished) yield break;
            }
        }
        finally
        {
            // A consumer that stops early (take, an error) must not wait while providers such as
            // Npgsql read the rest of the result on Dispose: cancel the query first.
            if (!finished)
            {
                try { command.Cancel(); }
                catch (Exception e) when (e is DbException or InvalidOperationException or NotSupportedException) { }
            }
            reader.Dispose();
        }
    }
}
