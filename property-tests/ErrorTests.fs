/// Bad input gets a clear .NET exception that says what and where, and never ends the process.
module Functional.PropertyTests.ErrorTests

open System
open Expecto
open TorchSharp
open Functional.Trees
open Functional.Autodiff
open Support

let private grad (f: torch.Tensor -> torch.Tensor) (x: torch.Tensor) =
    Transforms.Grad(Func<torch.Tensor, torch.Tensor>(f)).Invoke x |> ignore

let tests =
    testList
        "errors"
        [
            testCase "a function that does not depend on its input"
            <| fun () ->
                scoped (fun () ->
                    expectThrowsWith<GradientException> [ "Grad"; "does not depend" ] (fun () ->
                        grad (fun _ -> scalar 1.0) (vector [ 1.0 ]))

                    expectThrowsWith<GradientException> [ "does not depend" ] (fun () ->
                        grad (fun x -> x.detach().sum()) (vector [ 1.0 ]))
                    // An output that needs gradients, but for other tensors than the input.
                    let elsewhere = (vector [ 2.0 ]).requires_grad_ true

                    expectThrowsWith<GradientException> [ "does not depend" ] (fun () ->
                        grad (fun _ -> (elsewhere * 3.0).sum()) (vector [ 1.0 ])))

            testCase "a leaf the output does not reach gets a zero gradient"
            <| fun () ->
                scoped (fun () ->
                    let tree =
                        TensorTree.Of(struct ("used", vector [ 2.0 ]), struct ("unused", vector [ 5.0; 6.0 ]))

                    let g =
                        Transforms.Grad(Func<TensorTree, torch.Tensor>(fun t -> (t.["used"] * 3.0).sum())).Invoke tree

                    expectClose "used" 0.0 g.["used"] (vector [ 3.0 ])
                    expectClose "unused" 0.0 g.["unused"] (vector [ 0.0; 0.0 ]))

            testCase "a non-scalar output given to Grad"
            <| fun () ->
                scoped (fun () ->
                    expectThrowsWith<ArgumentException> [ "Grad"; "scalar"; "[3]"; "Vjp" ] (fun () ->
                        grad (fun x -> x * 2.0) (vector [ 1.0; 2.0; 3.0 ])))

            testCase "mismatched shapes: cotangent, tangent, Hessian vector"
            <| fun () ->
                scoped (fun () ->
                    let struct (_, pullback) =
                        Transforms.Vjp(Func<torch.Tensor, torch.Tensor>(fun x -> x * 2.0), vector [ 1.0; 2.0 ])

                    expectThrowsWith<ArgumentException> [ "cotangent"; "[3]"; "[2]" ] (fun () ->
                        pullback.Invoke(vector [ 1.0; 2.0; 3.0 ]) |> ignore)

                    expectThrowsWith<ArgumentException> [ "Jvp"; "tangent"; "[1]"; "[2]" ] (fun () ->
                        Transforms.Jvp(
                            Func<torch.Tensor, torch.Tensor>(fun x -> x * 2.0),
                            vector [ 1.0; 2.0 ],
                            vector [ 1.0 ]
                        )
                        |> ignore)

                    let x = TensorTree.Of(struct ("w", vector [ 1.0; 2.0 ]))

                    expectThrowsWith<ArgumentException> [ "'w'" ] (fun () ->
                        Transforms.HessianVectorProduct(
                            Func<TensorTree, torch.Tensor>(fun t -> t.["w"].sum()),
                            x,
                            TensorTree.Of(struct ("v", vector [ 1.0; 2.0 ]))
                        )
                        |> ignore))

            testCase "an integer leaf cannot be differentiated"
            <| fun () ->
                scoped (fun () ->
                    let tree = TensorTree.Of(struct ("labels", torch.tensor ([| 1L; 2L |])))

                    expectThrowsWith<ArgumentException> [ "'labels'"; "Int64"; "floating-point" ] (fun () ->
                        Transforms.Grad(Func<TensorTree, torch.Tensor>(fun t -> t.["labels"].sum())).Invoke tree
                        |> ignore))

            testCase "a graph already freed by a plain backward() is reported, not fatal"
            <| fun () ->
                scoped (fun () ->
                    let x = vector [ 1.0; 2.0 ]
                    use tape = new GradientTape()
                    tape.Watch x |> ignore
                    let loss = x.exp().sum()
                    loss.backward ()

                    expectThrowsWith<GradientException>
                        [ "GradientTape.Gradient"; "backward through the graph a second time" ]
                        (fun () -> tape.Gradient(loss, x) |> ignore))

            testCase "a disposed input is reported"
            <| fun () ->
                let x = vector [ 1.0 ]
                x.Dispose()
                Expect.throwsT<ObjectDisposedException> (fun () -> grad (fun t -> t.sum ()) x) "disposed"
        ]
