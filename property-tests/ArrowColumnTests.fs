/// Arrow columns become tensors with the documented dtypes and shapes, slices included.
module Functional.PropertyTests.ArrowColumnTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Apache.Arrow
open Apache.Arrow.Types
open TorchSharp
open Functional.Streams.Columns
open Support

let private floats (values: float32[]) =
    (FloatArray.Builder()).AppendRange(values).Build()

/// A fixed-size-list column of `width` floats per row.
let private rows (width: int) (values: float32[]) =
    let child = floats values
    let listType = FixedSizeListType(FloatType.Default, width)
    new FixedSizeListArray(listType, values.Length / width, child, ArrowBuffer.Empty, 0, 0)

let private slice (offset: int) (length: int) (array: IArrowArray) : IArrowArray =
    (array :?> Apache.Arrow.Array).Slice(offset, length)

/// The tensor's values (TorchSharp's accessor fails on empty tensors).
let private valuesOf<'T when 'T: unmanaged and 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType>
    (t: torch.Tensor)
    : 'T[] =
    if t.numel () = 0L then [||] else t.data<'T>().ToArray()

let private sample =
    gen {
        let! width = Gen.choose (1, 4)
        let! count = Gen.choose (1, 8)

        let! values =
            Gen.arrayOfLength (width * count) (Gen.choose (-1000, 1000) |> Gen.map (fun i -> float32 i / 10.0f))

        let! offset = Gen.choose (0, count - 1)
        let! length = Gen.choose (0, count - offset)
        return width, values, offset, length
    }

let tests =
    testList
        "arrow columns to tensors"
        [
            testPropertyWithConfig
                config
                "a fixed-size-list column (sliced or not) becomes [rows, width] with the same values"
                (Prop.forAll (Arb.fromGen sample) (fun (width, values, offset, length) ->
                    scoped (fun () ->
                        let column = rows width values |> slice offset length
                        let tensor = ArrowTensor.FromArray(column, "features")
                        Expect.sequenceEqual tensor.shape [| int64 length; int64 width |] "shape"
                        Expect.equal tensor.dtype torch.float32 "dtype"
                        let expected = values.[offset * width .. (offset + length) * width - 1]
                        Expect.sequenceEqual (valuesOf<float32> tensor) expected "values")))

            testCase "primitive columns keep their dtype; booleans are unpacked"
            <| fun () ->
                scoped (fun () ->
                    let ints = (Int64Array.Builder()).AppendRange([| 3L; -4L; 5L |]).Build()
                    let t = ArrowTensor.FromArray(slice 1 2 ints)
                    Expect.equal t.dtype torch.int64 "int64"
                    Expect.sequenceEqual (t.data<int64>().ToArray()) [| -4L; 5L |] "sliced int64"
                    let bytes = (UInt8Array.Builder()).AppendRange([| 0uy; 255uy |]).Build()
                    Expect.equal (ArrowTensor.FromArray bytes).dtype torch.uint8 "uint8"

                    let flags =
                        (BooleanArray.Builder()).AppendRange([ true; false; true; true ]).Build()

                    let b = ArrowTensor.FromArray(slice 1 3 flags)
                    Expect.equal b.dtype torch.ScalarType.Bool "bool"
                    Expect.sequenceEqual (b.data<bool>().ToArray()) [| false; true; true |] "sliced booleans")

            testCase "columns are found by name in a record batch; problems name the column"
            <| fun () ->
                scoped (fun () ->
                    let schema =
                        Schema
                            .Builder()
                            .Field(fun f -> f.Name("x").DataType(FloatType.Default) |> ignore)
                            .Field(fun f -> f.Name("label").DataType(StringType.Default) |> ignore)
                            .Build()

                    let labels = (StringArray.Builder()).AppendRange([ "a"; "b" ]).Build()

                    use batch =
                        new RecordBatch(schema, [ floats [| 1.0f; 2.0f |] :> IArrowArray; labels ], 2)

                    expectClose
                        "x"
                        0.0
                        ((ArrowTensor.FromColumn(batch, "x")).to_type torch.float64)
                        (vector [ 1.0; 2.0 ])

                    expectThrowsWith<ArgumentException> [ "'y'"; "'x'"; "'label'" ] (fun () ->
                        ArrowTensor.FromColumn(batch, "y") |> ignore)

                    expectThrowsWith<NotSupportedException> [ "'label'"; "utf8" ] (fun () ->
                        ArrowTensor.FromColumn(batch, "label") |> ignore)

                    let withNull = (FloatArray.Builder()).Append(1.0f).AppendNull().Build()

                    expectThrowsWith<NotSupportedException> [ "'weights'"; "1 null" ] (fun () ->
                        ArrowTensor.FromArray(withNull, "weights") |> ignore))
        ]
