/// Every differentiable primitive the library relies on, checked against finite differences on
/// random shapes and values (float64), through GradCheck (both J^T v and J u).
module Functional.PropertyTests.PrimitiveGradientTests

open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Functional.Trees
open Functional.Verification
open Functional.FSharp.Testing
open Support

/// name, function of one tensor, value range the function is smooth on.
let private unary: (string * (torch.Tensor -> torch.Tensor) * float * float) list =
    [
        "neg", (fun x -> -x), -2.0, 2.0
        "exp", (fun x -> x.exp ()), -2.0, 2.0
        "log", (fun x -> x.log ()), 0.5, 3.0
        "sqrt", (fun x -> x.sqrt ()), 0.5, 3.0
        "square", (fun x -> x * x), -2.0, 2.0
        "pow 3", (fun x -> x.pow ((3.0).ToScalar())), -2.0, 2.0
        "reciprocal", (fun x -> x.reciprocal ()), 0.5, 3.0
        "sin", (fun x -> x.sin ()), -3.0, 3.0
        "cos", (fun x -> x.cos ()), -3.0, 3.0
        "tanh", (fun x -> x.tanh ()), -2.0, 2.0
        "sigmoid", (fun x -> x.sigmoid ()), -3.0, 3.0
        "relu (away from 0)", (fun x -> torch.nn.functional.relu x), 0.1, 2.0
        "gelu", (fun x -> torch.nn.functional.gelu x), -2.0, 2.0
        "silu", (fun x -> torch.nn.functional.silu x), -2.0, 2.0
        "softplus", (fun x -> torch.nn.functional.softplus x), -2.0, 2.0
        "sum", (fun x -> x.sum ()), -2.0, 2.0
        "mean", (fun x -> x.mean ()), -2.0, 2.0
        "softmax (last dim)", (fun x -> if x.dim () = 0L then x.sigmoid () else x.softmax (-1L)), -2.0, 2.0
        "log_softmax (last dim)", (fun x -> if x.dim () = 0L then x.sigmoid () else x.log_softmax (-1L)), -2.0, 2.0
        "reshape and transpose",
        (fun x ->
            if x.dim () < 2L then
                x * 3.0
            else
                x.transpose(0L, 1L).reshape(-1L) * 3.0),
        -2.0,
        2.0
    ]

/// name, function of two same-shaped tensors.
let private binary: (string * (torch.Tensor -> torch.Tensor -> torch.Tensor)) list =
    [
        "add", (fun a b -> a + b)
        "sub", (fun a b -> a - b)
        "mul", (fun a b -> a * b)
        "div", (fun a b -> a / (b * b + 1.0))
        "maximum (distinct values)", (fun a b -> torch.maximum (a, b + 5.0))
        "atan2-free: a * exp(b)", (fun a b -> a * b.exp ())
    ]

let private check (f: TensorTree -> TensorTree) (tree: TensorTree) =
    let report = GradCheck.Check(System.Func<_, _>(f), tree)

    if not report.Passed then
        failtestf "gradient check %O" report

let tests =
    testList
        "primitive gradients match finite differences"
        [
            for (name, f, low, high) in unary do
                testPropertyWithConfig
                    config
                    name
                    (Prop.forAll (Arb.fromGen (Generators.tensorIn low high)) (fun sample ->
                        scoped (fun () ->
                            check (fun t -> TensorTree.Leaf(f t.[""])) (TensorTree.Leaf(sample.ToTensor())))))

            for (name, f) in binary do
                let pair =
                    gen {
                        let! shape = Generators.shape 3 4
                        let! a = Generators.tensorOfShape shape -2.0 2.0
                        let! b = Generators.tensorOfShape shape -2.0 2.0
                        return a, b
                    }

                testPropertyWithConfig
                    config
                    name
                    (Prop.forAll (Arb.fromGen pair) (fun (a, b) ->
                        scoped (fun () ->
                            check
                                (fun t -> TensorTree.Leaf(f t.["a"] t.["b"]))
                                (TensorTree.Of(struct ("a", a.ToTensor()), struct ("b", b.ToTensor()))))))

            let matmulShapes =
                gen {
                    let! n = Gen.choose (1, 4)
                    let! k = Gen.choose (1, 4)
                    let! m = Gen.choose (1, 4)
                    let! a = Generators.tensorOfShape [| int64 n; int64 k |] -2.0 2.0
                    let! b = Generators.tensorOfShape [| int64 k; int64 m |] -2.0 2.0
                    return a, b
                }

            testPropertyWithConfig
                config
                "matmul"
                (Prop.forAll (Arb.fromGen matmulShapes) (fun (a, b) ->
                    scoped (fun () ->
                        check
                            (fun t -> TensorTree.Leaf(t.["a"].matmul t.["b"]))
                            (TensorTree.Of(struct ("a", a.ToTensor()), struct ("b", b.ToTensor()))))))

            testPropertyWithConfig
                config
                "a dense layer tanh(x W + b) over a tree of parameters"
                (Prop.forAll (Arb.fromGen matmulShapes) (fun (x, w) ->
                    scoped (fun () ->
                        let bias = torch.linspace (-1.0, 1.0, w.Shape.[1], dtype = torch.float64)

                        let parameters =
                            TensorTree.Of(struct ("dense/kernel", w.ToTensor()), struct ("dense/bias", bias))

                        let input = x.ToTensor()

                        check
                            (fun p ->
                                TensorTree.Leaf((input.matmul p.["dense/kernel"] + p.["dense/bias"]).tanh().sum()))
                            parameters)))
        ]
