/// CSV files as people have them: scikit-learn's four ordinary CSV files (data/sklearn: no
/// header, a first line that is not a header, gzip, spaces between fields) load in one call;
/// names, delimiters, quotes, types, defaults and selected columns as given; errors name the
/// file and line.
module Functional.PropertyTests.CsvTests

open System
open System.IO
open System.IO.Compression
open Expecto
open Apache.Arrow
open TorchSharp
open Functional.Streams
open Functional.FSharp
open Support
open StreamSourceTests

let private sklearn name =
    Path.Combine(repositoryRoot, "data", "sklearn", name)

/// scikit-learn's files start with "rows,features,class names...": not a header.
let private countsLine = CsvOptions(HasHeader = false, SkipLines = 1)

/// How many rows have each label.
let private labelCounts (labels: torch.Tensor) =
    labels.data<int64>().ToArray() |> Array.countBy id |> Array.sort |> List.ofArray

let tests =
    testList
        "csv"
        [
            testCase "scikit-learn's digits, breast cancer, wine, iris and diabetes CSV files load in one call"
            <| fun () ->
                use digits =
                    CsvFeatures.Load(sklearn "digits.csv.gz", "column_64", CsvOptions(HasHeader = false))

                Expect.equal (List.ofArray digits.Features.shape) [ 1797L; 64L ] "digits: 1797 images of 8 x 8"
                Expect.equal (digits.Features.max().item<float32>()) 16.0f "pixels 0-16"
                Expect.equal (labelCounts digits.Labels).[0] (0L, 178) "178 zeros"

                Expect.equal
                    (string digits)
                    "1797 rows x 64 features (column_0 ... column_63), labels int64 from 'column_64'"
                    "printed"

                use cancer = CsvFeatures.Load(sklearn "breast_cancer.csv", "column_30", countsLine)
                Expect.equal (List.ofArray cancer.Features.shape) [ 569L; 30L ] "breast cancer: 569 x 30"
                Expect.equal (labelCounts cancer.Labels) [ 0L, 212; 1L, 357 ] "212 malignant, 357 benign"
                Expect.floatClose Accuracy.medium (float (cancer.Features.[0L, 0L].item<float32>())) 17.99 "first value"

                use wine = CsvFeatures.Load(sklearn "wine_data.csv", "column_13", countsLine)
                Expect.equal (List.ofArray wine.Features.shape) [ 178L; 13L ] "wine: 178 x 13"
                Expect.equal (labelCounts wine.Labels) [ 0L, 59; 1L, 71; 2L, 48 ] "three cultivars"

                use iris = CsvFeatures.Load(sklearn "iris.csv", "column_4", countsLine)
                Expect.equal (labelCounts iris.Labels) [ 0L, 50; 1L, 50; 2L, 50 ] "iris: 50 of each"

                let spaces = CsvOptions(HasHeader = false, Delimiter = ' ')

                use diabetes =
                    CsvFeatures.Load(sklearn "diabetes_data_raw.csv.gz", options = spaces)

                use target = CsvFeatures.Load(sklearn "diabetes_target.csv.gz", options = spaces)
                Expect.equal (List.ofArray diabetes.Features.shape) [ 442L; 10L ] "diabetes: 442 x 10, space-delimited"
                Expect.isNull diabetes.Labels "no label column named"
                Expect.equal (diabetes.Features.select(1, 0L).sum().item<float32>()) 21445.0f "ages add up"
                Expect.equal (target.Features.sum().item<float32>()) 67243.0f "targets add up"

            testCase "names given or generated, lines skipped, delimiter, quotes, types, defaults and selected columns"
            <| fun () ->
                withFolder (fun folder ->
                    let path = Path.Combine(folder, "t.txt.gz")

                    (use file = File.Create path
                     use gz = new GZipStream(file, CompressionLevel.Fastest)
                     use writer = new StreamWriter(gz)
                     writer.Write("# exported 2026-12-06\n1;'a; b';2.5;\n2;'say ''hi''';;7\n3;'two\nlines';-1;8\n"))

                    let options =
                        CsvOptions(
                            Delimiter = ';',
                            Quote = ''',
                            HasHeader = false,
                            SkipLines = 1,
                            ColumnNames = [| "id"; "text"; "score"; "count" |],
                            SelectColumns = [| "count"; "text"; "score" |],
                            ColumnTypes = readOnlyDict [ "score", Types.FloatType.Default :> Types.IArrowType ],
                            ColumnDefaults = readOnlyDict [ "count", "0" ]
                        )

                    let schema = DataStream.InferCsvSchema(path, options)

                    Expect.equal
                        [ for f in schema.FieldsList -> f.Name, f.DataType.Name, f.IsNullable ]
                        [ "count", "int64", false; "text", "utf8", true; "score", "float", true ]
                        "selected columns in the order asked for; declared and inferred types; a default means no nulls"

                    let batch = DataStream.CsvBatches(path, options) |> Stream.toList |> List.exactlyOne
                    use batch = batch

                    Expect.equal
                        [ for i in 0..2 -> (batch.Column("count") :?> Int64Array).GetValue(i).Value ]
                        [ 0L; 7L; 8L ]
                        "an empty field takes the default"

                    Expect.equal
                        [ for i in 0..2 -> (batch.Column("text") :?> StringArray).GetString i ]
                        [ "a; b"; "say 'hi'"; "two\nlines" ]
                        "quoted delimiters, doubled quotes and line breaks"

                    Expect.isFalse ((batch.Column("score") :?> FloatArray).GetValue(1).HasValue) "no default: null"

                    let rows = Stream.ofCsvWith options path |> Stream.toList
                    Expect.equal rows.Length 3 "the F# form reads rows"

                    for r in rows do
                        r.Dispose())

            testCase "errors name the file and line, counting skipped lines and the header"
            <| fun () ->
                withFolder (fun folder ->
                    let path = Path.Combine(folder, "t.csv")
                    File.WriteAllLines(path, [ "569,2,a,b"; "1.5,0"; "2.5,1"; "x,1" ])

                    let read options =
                        CsvFeatures.Load(path, "column_1", options).Dispose()

                    expectThrowsWith<InvalidDataException> [ path; "line 4"; "column 'column_0'"; "'x'" ] (fun () ->
                        read (
                            CsvOptions(
                                HasHeader = false,
                                SkipLines = 1,
                                ColumnTypes =
                                    readOnlyDict [ "column_0", Types.DoubleType.Default :> Types.IArrowType ]
                            )
                        ))

                    expectThrowsWith<InvalidDataException> [ path; "line 2"; "2 fields"; "4 columns" ] (fun () ->
                        read (CsvOptions(HasHeader = false)))

                    expectThrowsWith<ArgumentException> [ "3 column names"; "line 2 has 2 fields" ] (fun () ->
                        read (CsvOptions(HasHeader = false, SkipLines = 1, ColumnNames = [| "a"; "b"; "c" |])))

                    expectThrowsWith<ArgumentException> [ "no column 'nope' to select" ] (fun () ->
                        read (CsvOptions(HasHeader = false, SkipLines = 1, SelectColumns = [| "nope" |])))

                    expectThrowsWith<ArgumentException> [ "column 'column_0' holds text" ] (fun () -> read countsLine)

                    File.WriteAllLines(path, [ "a,b"; "1,"; "2,0" ])

                    expectThrowsWith<ArgumentException> [ "no label column 'c'"; "a, b" ] (fun () ->
                        CsvFeatures.Load(path, "c").Dispose())

                    expectThrowsWith<InvalidDataException> [ path; "line 2"; "column 'b'"; "empty field" ] (fun () ->
                        CsvFeatures.Load(path, "a").Dispose())

                    expectThrowsWith<ArgumentException> [ "default 'none'"; "'b'" ] (fun () ->
                        DataStream.CsvBatches(path, CsvOptions(ColumnDefaults = readOnlyDict [ "b", "none" ]))
                        |> Stream.toList
                        |> ignore)

                    use filled =
                        CsvFeatures.Load(path, "a", CsvOptions(ColumnDefaults = readOnlyDict [ "b", "-1" ]))

                    Expect.equal
                        (filled.Features.data<float32>().ToArray())
                        [| -1.0f; 0.0f |]
                        "the default fills the empty field"

                    Expect.equal (filled.Labels.data<int64>().ToArray()) [| 1L; 2L |] "integer labels")

            testCase
                "quoted line breaks, blank lines, missing-value markers, comments, a declared schema and damaged gzip"
            <| fun () ->
                withFolder (fun folder ->
                    let path = Path.Combine(folder, "t.csv")
                    File.WriteAllText(path, "id,note\n1,\"two\nlines\"\n\n#2,NA\n3,ok\nx,bad\n")

                    let options =
                        CsvOptions(
                            MissingValues = [| "NA" |],
                            ColumnTypes = readOnlyDict [ "id", Types.StringType.Default :> Types.IArrowType ]
                        )

                    let batch = DataStream.CsvBatches(path, options) |> Stream.toList |> List.exactlyOne
                    use batch = batch

                    Expect.equal
                        batch.Length
                        4
                        "the blank line is skipped; '#' starts data unless Comment says otherwise"

                    Expect.isFalse ((batch.Column "note").IsValid 1) "NA is missing"

                    expectThrowsWith<InvalidDataException> [ path; "line 7"; "'x'" ] (fun () ->
                        CsvFeatures
                            .Load(
                                path,
                                "note",
                                CsvOptions(
                                    MissingValues = [| "NA" |],
                                    Comment = '#',
                                    ColumnTypes = readOnlyDict [ "id", Types.Int64Type.Default :> Types.IArrowType ]
                                )
                            )
                            .Dispose())

                    let declared =
                        Schema
                            .Builder()
                            .Field(fun f -> f.Name("note").DataType(Types.StringType.Default).Nullable(true) |> ignore)
                            .Field(fun f -> f.Name("id").DataType(Types.StringType.Default).Nullable(false) |> ignore)
                            .Build()

                    Expect.equal
                        (DataStream.CsvBatches(path, declared) |> Stream.toList |> List.exactlyOne).Length
                        4
                        "a declared schema is used as given"

                    expectThrowsWith<InvalidDataException> [ "has no column 'missing'" ] (fun () ->
                        let schema =
                            Schema
                                .Builder()
                                .Field(fun f -> f.Name("missing").DataType(Types.Int64Type.Default) |> ignore)
                                .Build()

                        DataStream.CsvBatches(path, schema) |> Stream.toList |> ignore)

                    expectThrowsWith<ArgumentException> [ "a default is given for column 'nope'" ] (fun () ->
                        DataStream.CsvBatches(path, CsvOptions(ColumnDefaults = readOnlyDict [ "nope", "0" ]))
                        |> Stream.toList
                        |> ignore)

                    let gz = Path.Combine(folder, "t.csv.gz")
                    File.WriteAllBytes(gz, Array.append [| 0x1fuy; 0x8buy; 8uy; 0uy |] (Array.create 40 0xffuy))

                    expectThrowsWith<InvalidDataException> [ gz ] (fun () ->
                        DataStream.CsvBatches(gz, CsvOptions()) |> Stream.toList |> ignore))

            testCase "text labels become class indices in ordinal order"
            <| fun () ->
                withFolder (fun folder ->
                    let path = Path.Combine(folder, "t.csv")
                    File.WriteAllLines(path, [ "x,species"; "1,setosa"; "2,virginica"; "3,setosa" ])
                    use data = CsvFeatures.Load(path, "species")
                    Expect.equal (List.ofSeq data.Classes) [ "setosa"; "virginica" ] "classes"
                    Expect.equal (data.Labels.data<int64>().ToArray()) [| 0L; 1L; 0L |] "indices")
        ]
