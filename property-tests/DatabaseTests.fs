/// The database source against real databases: SQLite (embedded) always; PostgreSQL against a
/// server started here from Debian's postgresql package (as the postgres user when the tests run
/// as root: initdb refuses root), skipped with the reason printed when that cannot be done.
module Functional.PropertyTests.DatabaseTests

open System
open System.Data.Common
open System.Diagnostics
open System.IO
open Expecto
open Apache.Arrow
open Microsoft.Data.Sqlite
open Npgsql
open Functional.Streams
open Functional.FSharp
open Support
open StreamSourceTests

/// Runs a program and returns its exit code and output (stdout and stderr).
let private run (program: string) (args: string list) =
    let start =
        ProcessStartInfo(program, args, RedirectStandardOutput = true, RedirectStandardError = true)

    use proc = Process.Start start
    let out = proc.StandardOutput.ReadToEndAsync()
    let err = proc.StandardError.ReadToEndAsync()

    if not (proc.WaitForExit(TimeSpan.FromSeconds 60.0)) then
        proc.Kill true
        -1, "timed out"
    else
        proc.ExitCode, out.Result + err.Result

/// A PostgreSQL server in a temporary folder, listening on a Unix socket there only.
type PostgresServer(folder: string, port: int, asUser: string list -> string * string list, pgCtl: string) =
    /// An Npgsql connection string for the server's postgres database.
    member _.ConnectionString =
        $"Host={folder};Port={port};Username=postgres;Database=postgres;Pooling=false"

    interface IDisposable with
        member _.Dispose() =
            let program, args =
                asUser [ pgCtl; "-D"; Path.Combine(folder, "data"); "-m"; "immediate"; "-w"; "stop" ]

            run program args |> ignore

            try
                Directory.Delete(folder, true)
            with _ ->
                ()

/// Starts a PostgreSQL server, or says why it cannot.
let startPostgres () : Result<PostgresServer, string> =
    let versions =
        if Directory.Exists "/usr/lib/postgresql" then
            Directory.GetDirectories "/usr/lib/postgresql" |> Array.sort
        else
            [||]

    match
        versions
        |> Array.tryFindBack (fun v -> File.Exists(Path.Combine(v, "bin", "initdb")))
    with
    | None ->
        Error
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); build/postgres-setup.sh installs it from Debian"
    | Some version ->
        let bin name = Path.Combine(version, "bin", name)
        let root = Environment.UserName = "root"

        if root && not (File.Exists "/usr/sbin/runuser") then
            Error "running as root, and without runuser there is no way to run initdb as another user"
        else
            let asUser (command: string list) =
                if root then
                    "/usr/sbin/runuser", [ "-u"; "postgres"; "--" ] @ command
                else
                    List.head command, List.tail command

            let folder = Path.Combine(Path.GetTempPath(), $"functional-pg-{Guid.NewGuid():N}")

            Directory.CreateDirectory folder |> ignore
            let port = Random.Shared.Next(20000, 30000)

            let steps =
                [
                    if root then
                        "chown", [ "postgres"; folder ]
                    asUser
                        [
                            bin "initdb"
                            "-D"
                            Path.Combine(folder, "data")
                            "-U"
                            "postgres"
                            "--auth=trust"
                            "-E"
                            "UTF8"
                            "--no-sync"
                        ]
                    asUser
                        [
                            bin "pg_ctl"
                            "-D"
                            Path.Combine(folder, "data")
                            "-o"
                            $"-k {folder} -p {port} -c listen_addresses=''"
                            "-l"
                            Path.Combine(folder, "log")
                            "-w"
                            "-t"
                            "30"
                            "start"
                        ]
                ]

            let failed =
                steps
                |> List.tryPick (fun (program, args) ->
                    match run program args with
                    | 0, _ -> None
                    | code, output ->
                        Some $"{Path.GetFileName program} {String.Join(' ', args)} exited with {code}: {output.Trim()}")

            match failed with
            | None -> Ok(new PostgresServer(folder, port, asUser, bin "pg_ctl"))
            | Some reason ->
                (try
                    Directory.Delete(folder, true)
                 with _ ->
                     ())

                Error reason

/// Fills `orders` (id, price, quantity, name, returned, data) with `rows` rows; every 7th price is NULL.
let private fill (connection: DbConnection) (createTable: string) (rows: int) =
    use create = connection.CreateCommand()
    create.CommandText <- createTable
    create.ExecuteNonQuery() |> ignore
    use transaction = connection.BeginTransaction()
    use insert = connection.CreateCommand()
    insert.Transaction <- transaction

    insert.CommandText <-
        "INSERT INTO orders (id, price, quantity, name, returned, data) VALUES (@id, @price, @quantity, @name, @returned, @data)"

    let parameter name =
        let p = insert.CreateParameter()
        p.ParameterName <- name
        insert.Parameters.Add p |> ignore
        p

    let id, price, quantity, name, returned, data =
        parameter "@id",
        parameter "@price",
        parameter "@quantity",
        parameter "@name",
        parameter "@returned",
        parameter "@data"

    for i in 0 .. rows - 1 do
        id.Value <- int64 i
        price.Value <- (if i % 7 = 0 then box DBNull.Value else box (float i * 0.5))
        quantity.Value <- i % 13
        name.Value <- $"item {i}"
        returned.Value <- (i % 2 = 0)
        data.Value <- [| byte i; byte (i >>> 8) |]
        insert.ExecuteNonQuery() |> ignore

    transaction.Commit()

/// Reads every batch of a stream: (ids, prices (None for NULL), names, batch sizes).
let private readOrders (stream: DataStream<RecordBatch>) =
    let batches = stream.Enumerate() |> List.ofSeq

    try
        let ids =
            batches
            |> List.collect (fun b -> (b.Column "id" :?> Int64Array).Values.ToArray() |> List.ofArray)

        let prices =
            batches
            |> List.collect (fun b ->
                let c = b.Column "price" :?> DoubleArray
                [ for i in 0 .. b.Length - 1 -> c.GetValue i |> Option.ofNullable ])

        let names =
            batches
            |> List.collect (fun b ->
                let c = b.Column "name" :?> StringArray
                [ for i in 0 .. b.Length - 1 -> c.GetString i ])

        ids, prices, names, batches |> List.map (fun b -> b.Length)
    finally
        for b in batches do
            b.Dispose()

/// The checks both databases pass: types, NULLs, batches, parameters, shards, errors.
let private checkDatabase (connect: unit -> DbConnection) (label: string) =
    let connect = Func<DbConnection>(connect)
    let rows = 2500

    let stream =
        DataStream.FromDatabase(
            connect,
            "SELECT id, price, quantity, name, returned, data FROM orders ORDER BY id",
            batchRows = 1000
        )

    let ids, prices, names, sizes = readOrders stream
    Expect.equal sizes [ 1000; 1000; 500 ] $"{label}: batches of 1000 rows"
    Expect.equal ids [ 0L .. int64 rows - 1L ] $"{label}: every row, in order"
    Expect.equal prices.[7] None $"{label}: NULL is null"
    Expect.equal prices.[3] (Some 1.5) $"{label}: a number"
    Expect.equal names.[42] "item 42" $"{label}: text"

    let first = stream.Enumerate() |> Seq.head
    use first = first
    let types = [ for f in first.Schema.FieldsList -> f.Name, f.DataType.Name ]
    Expect.equal (fst types.[0]) "id" $"{label}: names from the query"
    Expect.contains [ "int64"; "int32" ] (snd types.[2]) $"{label}: an integer column"
    Expect.equal (snd types.[3]) "utf8" $"{label}: text"

    Expect.equal
        (snd types.[4])
        (if label = "SQLite" then "int64" else "bool")
        $"{label}: booleans as the database stores them"

    Expect.equal (snd types.[5]) "binary" $"{label}: bytes"

    let filtered =
        DataStream.FromDatabase(
            connect,
            "SELECT id, price, name FROM orders WHERE id >= @low ORDER BY id",
            parameters = readOnlyDict [ "@low", box 2400L ]
        )

    let ids, _, _, _ = readOrders filtered
    Expect.equal ids [ 2400L .. 2499L ] $"{label}: parameters"

    let shards =
        DataStream.FromDatabaseShards(connect, "SELECT id, price, name FROM orders", "id", 3, batchRows = 400)

    let perShard =
        shards
        |> Seq.map (fun s -> let ids, _, _, _ = readOrders s in ids)
        |> List.ofSeq

    Expect.equal
        (perShard |> List.concat |> List.sort)
        [ 0L .. int64 rows - 1L ]
        $"{label}: the shards hold every row once"

    Expect.isTrue
        (perShard |> List.forall (fun ids -> ids.Length > 800 && ids.Length < 870))
        $"{label}: ranges of equal width"

    let ids, _, _, _ = readOrders (DataStream.Interleave(shards, cycleLength = 3))
    Expect.equal ids.Length rows $"{label}: shards read in parallel"

    expectThrowsWith<InvalidOperationException> [ "the query failed"; "no_such_table" ] (fun () ->
        DataStream.FromDatabase(connect, "SELECT * FROM no_such_table").Enumerate()
        |> Seq.iter ignore)

let tests =
    testList
        "databases"
        [
            testCase "SQLite: query results as typed record batches, NULLs, parameters, key-range shards, errors"
            <| fun () ->
                withFolder (fun folder ->
                    let file = Path.Combine(folder, "shop.db")
                    let connectionString = $"Data Source={file};Pooling=False"

                    (use connection = new SqliteConnection(connectionString)
                     connection.Open()

                     fill
                         connection
                         "CREATE TABLE orders (id INTEGER PRIMARY KEY, price REAL, quantity INTEGER, name TEXT, returned BOOLEAN, data BLOB)"
                         2500)

                    checkDatabase (fun () -> new SqliteConnection(connectionString)) "SQLite"

                    // Memory stays bounded: a billion generated rows, of which the consumer takes two batches.
                    let endless =
                        DataStream.FromDatabase(
                            (fun () -> new SqliteConnection(connectionString) :> DbConnection),
                            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT i FROM n",
                            batchRows = 1000
                        )

                    within 30.0 (fun () ->
                        let two = endless |> Stream.take 2L |> Stream.toList
                        Expect.equal (two |> List.sumBy (fun b -> b.Length)) 2000 "two batches, read as taken"

                        for b in two do
                            b.Dispose())

                    // SQLite types each value: a text in an integer column is named.
                    (use connection = new SqliteConnection(connectionString)
                     connection.Open()
                     use command = connection.CreateCommand()

                     command.CommandText <-
                         "INSERT INTO orders (id, price, quantity, name) VALUES (9999, 1.0, 'many', 'odd')"

                     command.ExecuteNonQuery() |> ignore)

                    expectThrowsWith<InvalidDataException> [ "row 2500"; "column 'quantity'"; "'many'" ] (fun () ->
                        DataStream
                            .FromDatabase(
                                (fun () -> new SqliteConnection(connectionString) :> DbConnection),
                                "SELECT quantity FROM orders ORDER BY id"
                            )
                            .Enumerate()
                        |> Seq.iter (fun b -> b.Dispose())))

            testCase "PostgreSQL: the same, against a server started for the test"
            <| fun () ->
                match startPostgres () with
                | Error reason ->
                    eprintfn "PostgreSQL test skipped: %s" reason
                    skiptestf "PostgreSQL could not be started here: %s" reason
                | Ok server ->
                    use server = server

                    (use connection = new NpgsqlConnection(server.ConnectionString)
                     connection.Open()

                     fill
                         connection
                         "CREATE TABLE orders (id BIGINT PRIMARY KEY, price DOUBLE PRECISION, quantity INTEGER, name TEXT, returned BOOLEAN, data BYTEA)"
                         2500)

                    checkDatabase (fun () -> new NpgsqlConnection(server.ConnectionString)) "PostgreSQL"

                    // Stopping early cancels the query instead of reading the rest (200 million rows).
                    within 30.0 (fun () ->
                        let two =
                            DataStream.FromDatabase(
                                (fun () -> new NpgsqlConnection(server.ConnectionString) :> DbConnection),
                                "SELECT generate_series(1, 200000000)::bigint AS i",
                                batchRows = 1000
                            )
                            |> Stream.take 2L
                            |> Stream.toList

                        Expect.equal (two |> List.sumBy (fun b -> b.Length)) 2000 "two batches"

                        for b in two do
                            b.Dispose())

                    expectThrowsWith<NotSupportedException>
                        [ "column 'span'"; "TimeSpan"; "cast it in the query" ]
                        (fun () ->
                            DataStream
                                .FromDatabase(
                                    (fun () -> new NpgsqlConnection(server.ConnectionString) :> DbConnection),
                                    "SELECT interval '1 day' AS span"
                                )
                                .Enumerate()
                            |> Seq.iter ignore)
        ]
