/// Laws and documented behaviour of parameter trees, in C# (TensorTree) and F# (values as trees).
module Functional.PropertyTests.TreeTests

open System
open Expecto
open TorchSharp
open Functional.Trees
open Functional.FSharp
open Functional.FSharp.Testing
open Support

type Dense = { W: torch.Tensor; B: torch.Tensor }

type Model =
    {
        Encoder: Dense
        Decoder: Dense list
        Scale: float
        Extra: Map<string, torch.Tensor>
        Gate: torch.Tensor option
    }

let private model () =
    {
        Encoder =
            {
                W = torch.ones (2L, 3L, dtype = torch.float64)
                B = torch.zeros (3L, dtype = torch.float64)
            }
        Decoder =
            [
                {
                    W = torch.full ([| 3L; 1L |], (2.0).ToScalar(), dtype = torch.float64)
                    B = torch.ones (1L, dtype = torch.float64)
                }
            ]
        Scale = 0.5
        Extra = Map [ "temperature", scalar 1.5 ]
        Gate = Some(scalar 0.25)
    }

let tests =
    testList
        "trees"
        [
            testPropertyWithConfig config "unflatten (flatten t) = t"
            <| fun (sample: TreeSample) ->
                scoped (fun () ->
                    let tree = sample.ToTree()
                    let back = tree.Structure.Unflatten(tree.Flatten())
                    Expect.equal back.Structure tree.Structure "same structure"
                    expectTreesClose "round trip" 0.0 back tree)

            testPropertyWithConfig config "map id = id and map composes"
            <| fun (sample: TreeSample) ->
                scoped (fun () ->
                    let tree = sample.ToTree()
                    expectTreesClose "map id" 0.0 (tree.Map(fun t -> t)) tree
                    let f (t: torch.Tensor) = t * 2.0
                    let g (t: torch.Tensor) = t + 1.0
                    expectTreesClose "map (g . f)" 1e-12 (tree.Map(fun t -> g (f t))) ((tree.Map f).Map g))

            testPropertyWithConfig config "scalar count is the flat length; fold sums leaves"
            <| fun (sample: TreeSample) ->
                scoped (fun () ->
                    let tree = sample.ToTree()
                    Expect.equal tree.ScalarCount (tree.Flatten().numel()) "count"
                    let total = tree.Fold(0.0, fun acc _ t -> acc + t.sum().item<float>())
                    Expect.floatClose Accuracy.high total (tree.Flatten().sum().item<float>()) "fold")

            testPropertyWithConfig config "select (prefix name t) name = t; merge with itself = itself"
            <| fun (sample: TreeSample) ->
                scoped (fun () ->
                    let tree = sample.ToTree()
                    expectTreesClose "select . prefix" 0.0 ((tree.Prefix "outer").Select "outer") tree
                    expectTreesClose "merge" 0.0 (tree.Merge tree) tree)

            testCase "zip combines leaf by leaf; dtype and detach moves keep paths"
            <| fun () ->
                scoped (fun () ->
                    let a = TensorTree.Of(struct ("x", vector [ 1.0; 2.0 ]), struct ("y/z", scalar 3.0))
                    let b = a.Map(fun t -> t * 10.0)
                    let sum = a.Zip(b, fun p q -> p + q)
                    expectClose "x" 0.0 sum.["x"] (vector [ 11.0; 22.0 ])
                    expectClose "y/z" 0.0 sum.["y/z"] (scalar 33.0)
                    let f32 = a.To torch.float32
                    Expect.equal f32.["x"].dtype torch.float32 "dtype"
                    Expect.sequenceEqual f32.Paths a.Paths "paths")

            testCase "select, filter and merge address sub-trees by path"
            <| fun () ->
                scoped (fun () ->
                    let tree =
                        TensorTree.Node(
                            struct ("encoder",
                                    TensorTree.Of(struct ("kernel", scalar 1.0), struct ("bias", scalar 2.0))),
                            struct ("head", TensorTree.Leaf(scalar 3.0))
                        )

                    Expect.sequenceEqual tree.Paths [ "encoder/kernel"; "encoder/bias"; "head" ] "paths"
                    Expect.sequenceEqual (tree.Select "encoder").Paths [ "kernel"; "bias" ] "select"

                    Expect.sequenceEqual
                        (tree.Filter(fun p _ -> p.EndsWith "kernel")).Paths
                        [ "encoder/kernel" ]
                        "filter"

                    let merged =
                        tree.Merge(TensorTree.Of(struct ("head", scalar 30.0), struct ("tail", scalar 4.0)))

                    expectClose "right wins" 0.0 merged.["head"] (scalar 30.0)
                    Expect.sequenceEqual merged.Paths [ "encoder/kernel"; "encoder/bias"; "head"; "tail" ] "union")

            testCase "malformed trees are rejected with the path named"
            <| fun () ->
                expectThrowsWith<ArgumentException> [ "'a'"; "twice" ] (fun () ->
                    TensorTree.Of(struct ("a", scalar 1.0), struct ("a", scalar 2.0)) |> ignore)

                expectThrowsWith<ArgumentException> [ "'a'"; "a/b" ] (fun () ->
                    TensorTree.Of(struct ("a", scalar 1.0), struct ("a/b", scalar 2.0)) |> ignore)

                expectThrowsWith<ArgumentException> [ "empty segment" ] (fun () ->
                    TensorTree.Of(struct ("a//b", scalar 1.0)) |> ignore)

                expectThrowsWith<ArgumentException> [ "root" ] (fun () ->
                    TensorTree.Of(struct ("", scalar 1.0), struct ("b", scalar 2.0)) |> ignore)

                expectThrowsWith<ArgumentException> [ "'a/b'"; "a/b/c" ] (fun () ->
                    TensorTree.Of(struct ("a/b/c", scalar 1.0), struct ("a/b", scalar 2.0))
                    |> ignore)

                let a = TensorTree.Of(struct ("a", scalar 1.0))

                expectThrowsWith<ArgumentException> [ "'a'"; "missing" ] (fun () ->
                    a.Zip(TensorTree.Of(struct ("b", scalar 1.0)), fun x _ -> x) |> ignore)

                expectThrowsWith<Collections.Generic.KeyNotFoundException> [ "'nope'"; "'a'" ] (fun () ->
                    a.["nope"] |> ignore)

                expectThrowsWith<ArgumentException> [ "length 1"; "[2]" ] (fun () ->
                    a.Structure.Unflatten(vector [ 1.0; 2.0 ]) |> ignore)

            testCase "F# records, lists, maps and options are trees in both directions"
            <| fun () ->
                scoped (fun () ->
                    let m = model ()

                    Expect.sequenceEqual
                        (Tree.paths m)
                        [
                            "Encoder/W"
                            "Encoder/B"
                            "Decoder/0/W"
                            "Decoder/0/B"
                            "Extra/temperature"
                            "Gate"
                        ]
                        "paths"

                    Expect.equal (Tree.scalarCount m) 15L "scalars"
                    let doubled = Tree.map (fun t -> t * 2.0) m
                    Expect.equal doubled.Scale 0.5 "static fields are kept"

                    expectClose
                        "nested list"
                        0.0
                        doubled.Decoder.[0].W
                        (torch.full ([| 3L; 1L |], (4.0).ToScalar(), dtype = torch.float64))

                    expectClose "map value" 0.0 doubled.Extra.["temperature"] (scalar 3.0)
                    expectClose "option" 0.0 doubled.Gate.Value (scalar 0.5)
                    let back = Tree.unflatten m (Tree.flatten m)
                    expectTreesClose "flatten round trip" 0.0 (Tree.toTree back) (Tree.toTree m))

            testCase "tuples and arrays are trees; TensorTree nests inside records"
            <| fun () ->
                scoped (fun () ->
                    let value =
                        (scalar 1.0, [| vector [ 2.0; 3.0 ] |], TensorTree.Of(struct ("k", scalar 4.0)))

                    Expect.sequenceEqual (Tree.paths value) [ "0"; "1/0"; "2/k" ] "paths"
                    let (a, b, c) = Tree.map (fun t -> t + 1.0) value
                    expectClose "tuple item" 0.0 a (scalar 2.0)
                    expectClose "array item" 0.0 b.[0] (vector [ 3.0; 4.0 ])
                    expectClose "subtree" 0.0 c.["k"] (scalar 5.0))
        ]
