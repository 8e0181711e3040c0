/// Custom gradients (custom VJP): right rules pass GradCheck and every transform uses them;
/// wrong rules are caught; failing rules surface as exceptions, never as a crash.
module Functional.PropertyTests.CustomGradientTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Functional.Trees
open Functional.Autodiff
open Functional.Verification
open Functional.FSharp
open Functional.FSharp.Testing
open Support

/// log(1 + exp(x)) with the numerically stable derivative sigmoid(x) written by hand.
let private softplus =
    Transforms.CustomVjp(
        Func<torch.Tensor, torch.Tensor>(fun x -> torch.nn.functional.softplus x),
        Func<torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor>(fun x _ dy -> dy * x.sigmoid ()),
        "softplus"
    )

/// The same function with a deliberately wrong rule (the derivative of softplus is not tanh).
let private wrongSoftplus =
    Transforms.CustomVjp(
        Func<torch.Tensor, torch.Tensor>(fun x -> torch.nn.functional.softplus x),
        Func<torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor>(fun x _ dy -> dy * x.tanh ()),
        "wrong_softplus"
    )

let tests =
    testList
        "custom gradients"
        [
            testPropertyWithConfig config "a correct custom rule passes GradCheck (vjp and jvp)"
            <| fun (sample: TensorSample) ->
                scoped (fun () ->
                    let report = GradCheck.Check(softplus, sample.ToTensor())
                    Expect.isTrue report.Passed (string report))

            testCase "a deliberately wrong custom rule is caught, naming the worst element"
            <| fun () ->
                scoped (fun () ->
                    let x = vector [ -1.0; 0.5; 2.0 ]
                    let report = GradCheck.Check(wrongSoftplus, x)
                    Expect.isFalse report.Passed "wrong rule must fail"
                    Expect.isGreaterThan report.MaxAbsError 0.05 "large error"
                    Expect.equal report.WorstPath "" "root leaf"
                    Expect.equal report.WorstIndex.Length 1 "index into the vector"

                    Expect.throwsT<GradCheckException>
                        (fun () -> GradCheck.Assert(wrongSoftplus, x) |> ignore)
                        "assert form throws")

            testCase "the custom rule is what Grad, Vjp, tapes and Hessian products use"
            <| fun () ->
                scoped (fun () ->
                    // A rule that is deliberately not the true derivative shows which one ran.
                    let marked =
                        Transforms.CustomVjp(
                            Func<torch.Tensor, torch.Tensor>(fun x -> x * x),
                            Func<torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor>(fun x _ dy -> dy * 100.0 * x),
                            "marked"
                        )

                    let x = vector [ 1.0; 2.0 ]

                    expectClose
                        "grad"
                        0.0
                        (Transforms.Grad(Func<torch.Tensor, torch.Tensor>(fun t -> marked.Invoke(t).sum())).Invoke x)
                        (x * 100.0)

                    use tape = new GradientTape()
                    let w = tape.Watch(x.clone ())
                    expectClose "tape" 0.0 (tape.Gradient(marked.Invoke(w).sum(), w)) (x * 100.0)

                    let struct (_, jvp) =
                        Transforms.Jvp(Func<torch.Tensor, torch.Tensor>(marked.Invoke), x, vector [ 1.0; 0.0 ])

                    expectClose "jvp" 1e-12 jvp (vector [ 100.0; 0.0 ])

                    let hv =
                        Transforms.HessianVectorProduct(
                            Func<TensorTree, torch.Tensor>(fun t -> marked.Invoke(t.[""]).sum()),
                            TensorTree.Leaf x,
                            TensorTree.Leaf(vector [ 1.0; 1.0 ])
                        )

                    expectClose "hvp" 1e-12 hv.[""] (vector [ 100.0; 100.0 ]))

            testCase "F# customVjp over records: clipped gradient"
            <| fun () ->
                scoped (fun () ->
                    // Identity forward; backward clips the incoming gradient to [-1, 1].
                    let clip =
                        Diff.customVjp (fun (p: {| A: torch.Tensor |}) -> p.A * 1.0, ()) (fun () (dy: torch.Tensor) ->
                            {|
                                A = dy.clamp ((-1.0).ToScalar(), (1.0).ToScalar())
                            |})

                    let g =
                        Diff.grad
                            (fun (p: {| A: torch.Tensor |}) -> (clip p * vector [ 5.0; 0.5 ]).sum())
                            {| A = vector [ 1.0; 1.0 ] |}

                    expectClose "clipped" 0.0 g.A (vector [ 1.0; 0.5 ]))

            testCase "a rule that throws, or returns a wrong shape, is a GradientException naming it"
            <| fun () ->
                scoped (fun () ->
                    let throwing =
                        Transforms.CustomVjp(
                            Func<torch.Tensor, torch.Tensor>(fun x -> x * 2.0),
                            Func<torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor>(fun _ _ _ -> invalidOp "boom"),
                            "throwing"
                        )

                    let grad (f: Func<torch.Tensor, torch.Tensor>) () =
                        Transforms
                            .Grad(Func<torch.Tensor, torch.Tensor>(fun t -> f.Invoke(t).sum()))
                            .Invoke(vector [ 1.0; 2.0 ])
                        |> ignore

                    expectThrowsWith<GradientException> [ "throwing"; "boom" ] (grad throwing)

                    let misshapen =
                        Transforms.CustomVjp(
                            Func<torch.Tensor, torch.Tensor>(fun x -> x * 2.0),
                            Func<torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor>(fun _ _ _ ->
                                torch.ones (3L, dtype = torch.float64)),
                            "misshapen"
                        )

                    expectThrowsWith<GradientException> [ "misshapen"; "[3]"; "[2]" ] (grad misshapen)
                    // The process survives and autograd still works afterwards.
                    expectClose
                        "still works"
                        0.0
                        (Transforms
                            .Grad(Func<torch.Tensor, torch.Tensor>(fun t -> (t * t).sum()))
                            .Invoke(vector [ 1.0 ]))
                        (vector [ 2.0 ]))
        ]
