/// FsCheck fuzzing of every file reader, in a child process (this test program started with
/// --fuzz-readers): damaged bytes and edited numbers never crash a reader, never take a case
/// longer than 10 seconds, and end either in a value or in the reader's documented exception.
/// The Parquet and Arrow files we write carry checksums: damage to them is an error, never
/// other values read without complaint.
module Functional.PropertyTests.FileFuzz

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Text.RegularExpressions
open Apache.Arrow
open Expecto
open FsCheck
open FsCheck.FSharp
open SixLabors.ImageSharp
open SixLabors.ImageSharp.PixelFormats
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Optimizers
open Functional.Persistence
open Functional.Pretrained
open Functional.Streams
open Functional.Training
open Functional.Trees

/// One damage: 0 flips a bit, 1 overwrites a byte, 2 truncates, 3 inserts a byte; at a fraction of the file.
type Damage = { Kind: int; At: float; Value: byte }

let private damageGen =
    gen {
        let! kind = Gen.choose (0, 3)
        let! at = Gen.choose (0, 999_999)
        let! value = Gen.choose (0, 255)

        return
            {
                Kind = kind
                At = float at / 1e6
                Value = byte value
            }
    }

let private damagesGen =
    Gen.choose (1, 3) |> Gen.bind (fun n -> Gen.listOfLength n damageGen)

let private damage (bytes: byte[]) (damages: Damage list) =
    damages
    |> List.fold
        (fun (b: byte[]) d ->
            if b.Length = 0 then
                b
            else
                let at = min (b.Length - 1) (int (d.At * float b.Length))

                match d.Kind with
                | 0 ->
                    let c = Array.copy b in
                    c.[at] <- c.[at] ^^^ (1uy <<< int (d.Value % 8uy))
                    c
                | 1 ->
                    let c = Array.copy b in
                    c.[at] <- d.Value
                    c
                | 2 -> Array.sub b 0 at
                | _ -> Array.concat [ Array.sub b 0 at; [| d.Value |]; Array.sub b at (b.Length - at) ])
        bytes

/// A reader under test: a valid file (made once), how to read it, and the exceptions it documents.
type private Reader =
    {
        Name: string
        File: string
        Read: string -> unit
        Documented: Type list
    }

let private folder =
    Path.Combine(Path.GetTempPath(), $"functional-fuzz-{Environment.ProcessId}")

let private batch () =
    let ids = Int64Array.Builder().AppendRange(seq { 0L .. 99L }).Build()

    let scores =
        DoubleArray.Builder().AppendRange(seq { for i in 0..99 -> float i / 3.0 }).Build()

    RecordBatch.Builder().Append("id", false, ids).Append("score", true, scores).Build()

/// Thrown when a damaged file read without complaint gives other values than were written.
exception SilentlyWrong of string

/// Reads every batch and checks it holds what batch () wrote, twice: damage must not pass as data.
let private sameTable (batches: RecordBatch seq) =
    let mutable rows, ids, scores = 0, 0L, 0.0

    for b in batches do
        use b = b
        rows <- rows + b.Length
        let idColumn = b.Column("id") :?> Int64Array
        let scoreColumn = b.Column("score") :?> DoubleArray

        for i in 0 .. b.Length - 1 do
            ids <- ids + idColumn.GetValue(i).GetValueOrDefault()
            scores <- scores + scoreColumn.GetValue(i).GetValueOrDefault()

    if rows <> 200 || ids <> 9900L || abs (scores - 3300.0) > 1e-9 then
        raise (SilentlyWrong $"read {rows} rows, id sum {ids}, score sum {scores} without an error")

let private readers () =
    Directory.CreateDirectory folder |> ignore
    let path name = Path.Combine(folder, name)

    SafeTensors.Save(
        path "w.safetensors",
        TensorTree.Of(
            struct ("a/kernel", torch.randn (4L, 3L)),
            struct ("a/bias", torch.zeros (3L, dtype = torch.float64))
        )
    )

    Sources.ParquetFile.Write(path "t.parquet", [ batch (); batch () ])

    for file in
        [
            "views.pt"
            "model.safetensors.index.json"
            "model-00001-of-00002.safetensors"
            "model-00002-of-00002.safetensors"
        ] do
        File.Copy(Path.Combine(AppContext.BaseDirectory, "fixtures", "pytorch", file), path file, true)

    let b = batch ()
    Sources.ArrowIpcFile.Write(path "t.arrow", b.Schema, [ b; batch () ])
    File.WriteAllText(path "t.csv", "id,score,name\n1,0.5,a\n2,1.5,\"b, c\"\n3,,d\n")
    let images = path "images"
    Directory.CreateDirectory(Path.Combine(images, "one")) |> ignore

    (use image = new Image<Rgb24>(6, 5, Rgb24(10uy, 20uy, 30uy)) in
     image.SaveAsPng(Path.Combine(images, "one", "a.png")))

    (use image = new Image<Rgb24>(9, 7, Rgb24(200uy, 100uy, 30uy)) in image.SaveAsJpeg(path "b.jpg"))

    File.Copy(
        Path.Combine(AppContext.BaseDirectory, "fixtures", "tfrecord", "examples.tfrecord"),
        path "t.tfrecord",
        true
    )

    File.Copy(
        Path.Combine(AppContext.BaseDirectory, "fixtures", "tfrecord", "examples.tfrecord.gz"),
        path "t.tfrecord.gz",
        true
    )

    let tfRecords = Records.TfRecordFile.Read(path "t.tfrecord") |> Array.ofSeq

    File.WriteAllBytes(
        path "example.pb",
        Records.TfRecordFile.Read(Path.Combine(AppContext.BaseDirectory, "fixtures", "tfrecord", "sequences.tfrecord"))
        |> Seq.head
    )

    /// Every record the reader returns is one of the file's, in order: damage is an error, and a
    /// file cut between records (the format has no end marker) only loses its last records.
    let readTfRecords (p: string) =
        let read = Records.TfRecordFile.Read p |> Array.ofSeq

        if
            read.Length > tfRecords.Length
            || Array.exists2
                (fun (a: byte[]) (b: byte[]) -> a.AsSpan().SequenceEqual(b) |> not)
                read
                tfRecords.[.. read.Length - 1]
        then
            raise (SilentlyWrong $"read {read.Length} records, not a prefix of the file's without an error")

    let model = path "model"

    (use m =
        new Model(
            Sequential(Conv2D(2L, 3L), Flatten(), Dense(2L)),
            [| 1L; 5L; 5L |],
            Loss.MeanSquaredError,
            Optimizer.Adam 1e-3
        )

     ModelFile.Save(model, m))

    let legacy = path "legacy"
    Directory.CreateDirectory legacy |> ignore
    File.Copy(Directory.GetFiles(model, "model.*").[0], Path.Combine(legacy, "model.json"))
    File.Copy(Directory.GetFiles(model, "state.*").[0], Path.Combine(legacy, "state.safetensors"))

    let load (file: string) =
        ModelFile.Load(Path.GetDirectoryName file) |> ignore

    let invalid = [ typeof<InvalidDataException> ]

    [
        {
            Name = "safetensors"
            File = path "w.safetensors"
            Read = (fun p -> SafeTensors.Load p |> ignore)
            Documented = invalid
        }
        {
            Name = "model.json"
            File = Path.Combine(legacy, "model.json")
            Read = load
            Documented = invalid
        }
        {
            Name = "saved state"
            File = Directory.GetFiles(model, "state.*").[0]
            Read = load
            Documented = invalid
        }
        {
            Name = "manifest"
            File = Path.Combine(model, SavedFolder.ManifestName)
            Read = load
            Documented = invalid
        }
        {
            Name = "pytorch checkpoint"
            File = path "views.pt"
            Read =
                (fun p ->
                    for t in (PyTorchCheckpoint.Load p).Values do
                        t.Dispose())
            Documented = invalid
        }
        {
            Name = "sharded checkpoint index"
            File = path "model.safetensors.index.json"
            Read =
                (fun p ->
                    for t in Checkpoint.Open(p).Read().Values do
                        t.Dispose())
            // An edited shard name can name a file that is not there.
            Documented = typeof<FileNotFoundException> :: invalid
        }
        {
            Name = "parquet"
            File = path "t.parquet"
            Read = (fun p -> sameTable (ParquetStreams.ParquetBatches(p, readAhead = 0).Enumerate()))
            Documented = invalid
        }
        {
            Name = "arrow"
            File = path "t.arrow"
            Read = (fun p -> sameTable (Sources.ArrowIpcFile.Read p))
            Documented = invalid
        }
        {
            Name = "csv"
            File = path "t.csv"
            Read =
                (fun p ->
                    for b in DataStream.CsvBatches(p).Enumerate() do
                        b.Dispose())
            Documented = invalid
        }
        {
            Name = "tfrecord"
            File = path "t.tfrecord"
            Read = readTfRecords
            Documented = invalid
        }
        {
            Name = "tfrecord.gz"
            File = path "t.tfrecord.gz"
            Read = readTfRecords
            Documented = invalid
        }
        {
            // The records' payloads, past the CRCs: damaged protobuf reaches the parsers.
            Name = "tf.train.Example"
            File = path "example.pb"
            Read =
                (fun p ->
                    let bytes = File.ReadAllBytes p
                    Records.TfExample.Parse(ReadOnlySpan bytes) |> ignore
                    Records.TfSequenceExample.Parse(ReadOnlySpan bytes) |> ignore)
            Documented = invalid
        }
        {
            Name = "image"
            File = Path.Combine(images, "one", "a.png")
            Read =
                (fun _ ->
                    for struct (x, y) in DataStream.ImageFolder(images, 6, 5, 3, 1).Enumerate() do
                        x.Dispose()
                        y.Dispose())
            Documented = [ typeof<StreamException> ]
        }
        {
            Name = "jpeg"
            File = path "b.jpg"
            Read = (fun p -> (DataStream.DecodeImage(p, 6, 5, 3)).Dispose())
            Documented = invalid
        }
    ]

/// model.json with one of its numbers replaced: shapes, units, kernel sizes, versions.
let private numberEdits (reader: Reader) =
    let original = File.ReadAllText reader.File
    let numbers = Regex.Matches(original, "-?[0-9]+") |> Seq.toArray

    gen {
        let! which = Gen.choose (0, numbers.Length - 1)

        let! value =
            Gen.oneof
                [
                    Gen.choose (-3, 12) |> Gen.map int64
                    Gen.elements [ 0L; -1L; 1_000_000_000_000L; 25_000_000L; Int64.MaxValue; Int64.MinValue ]
                ]

        let m = numbers.[which]

        return
            original.Substring(0, m.Index)
            + string value
            + original.Substring(m.Index + m.Length)
    }

let private marker = "@@fuzz"

/// Runs reader.Read on content written over its file; the outcome ("ok", or why not) and the seconds it took.
let private attempt (reader: Reader) (write: unit -> unit) =
    let original = File.ReadAllBytes reader.File
    write ()
    let clock = Stopwatch.StartNew()

    let outcome =
        try
            Support.scoped (fun () -> reader.Read reader.File)
            "ok"
        with
        | e when reader.Documented |> List.exists (fun t -> t.IsInstanceOfType e) -> "ok"
        | e -> $"{e.GetType().FullName}: {e.Message}".ReplaceLineEndings " "

    File.WriteAllBytes(reader.File, original)
    outcome, clock.Elapsed.TotalSeconds

/// The child's side: count cases per reader; one summary line per reader.
let run (count: int) =
    use stdout = new StreamWriter(Console.OpenStandardOutput(), AutoFlush = true)

    try
        for reader in readers () do
            let longest = ref 0.0
            let failures = Collections.Generic.List<string>()

            let check (outcome, seconds) =
                longest.Value <- max longest.Value seconds

                if outcome <> "ok" then
                    failures.Add outcome
                elif seconds > 10.0 then
                    failures.Add $"a case took {seconds:N1} s"

                outcome = "ok" && seconds <= 10.0

            let bytes = File.ReadAllBytes reader.File
            let config = Config.Quick.WithMaxTest(count)

            let damaged =
                Prop.forAll (Arb.fromGen damagesGen) (fun d ->
                    stdout.WriteLine($"{marker}-start\t{reader.Name}\t" + (sprintf "%A" d).ReplaceLineEndings " ")
                    check (attempt reader (fun () -> File.WriteAllBytes(reader.File, damage bytes d))))

            Check.One(config, damaged)

            if reader.Name = "model.json" then
                let edited =
                    Prop.forAll (Arb.fromGen (numberEdits reader)) (fun text ->
                        check (attempt reader (fun () -> File.WriteAllText(reader.File, text))))

                Check.One(config, edited)

            let first = if failures.Count = 0 then "" else failures.[0]
            stdout.WriteLine($"{marker}\t{reader.Name}\t{failures.Count}\t{longest.Value:F2}\t{first}")
    finally
        if Directory.Exists folder then
            Directory.Delete(folder, true)

    0


let tests =
    testList
        "file fuzzing"
        [
            testCase
                "every file reader, damaged bytes and edited numbers, in a child process: documented exceptions only, no case over 10 s"
            <| fun () ->
                let exitCode, stdout, stderr =
                    Support.runSelf [ "--fuzz-readers"; "100" ] (TimeSpan.FromMinutes 5.0) "the fuzzing child"

                let lines = stdout.Split('\n') |> Array.map (fun l -> l.TrimEnd('\r').Split('\t'))

                if exitCode <> 0 then
                    let last =
                        lines |> Array.filter (fun l -> l.[0] = marker + "-start") |> Array.tryLast

                    failtestf "the fuzzing child ended with exit code %d during %A\n%s" exitCode last stderr

                let summaries = lines |> Array.filter (fun l -> l.[0] = marker)
                Expect.equal summaries.Length 14 "a summary per reader"

                for s in summaries do
                    Expect.equal s.[2] "0" $"{s.[1]}: {s.[4]}"
                    Expect.isLessThan (float s.[3]) 10.0 $"{s.[1]}: the longest case"
        ]
