/// GradientTape: TensorFlow's style on the same machinery, including the two-tape GAN step.
module Functional.PropertyTests.TapeTests

open System
open Expecto
open TorchSharp
open Functional.Trees
open Functional.Autodiff
open Functional.FSharp
open Support

let tests =
    testList
        "gradient tape"
        [
            testCase "gradients of a watched tree match Grad"
            <| fun () ->
                scoped (fun () ->
                    let parameters =
                        TensorTree.Of(struct ("w", vector [ 0.5; -1.0 ]), struct ("b", scalar 0.1))

                    let loss (p: TensorTree) =
                        ((p.["w"] * vector [ 2.0; 3.0 ]).sum() + p.["b"]).pow((2.0).ToScalar())

                    use tape = new GradientTape()
                    tape.Watch parameters |> ignore
                    let g = tape.Gradient(loss parameters, parameters)
                    expectTreesClose "tape = grad" 1e-12 g (Transforms.Grad(Func<_, _>(loss)).Invoke parameters))

            testCase "requires_grad is switched back off when the tape is disposed"
            <| fun () ->
                scoped (fun () ->
                    let x = vector [ 1.0 ]

                    (use tape = new GradientTape()
                     tape.Watch x |> ignore
                     Expect.isTrue x.requires_grad "watched")

                    Expect.isFalse x.requires_grad "restored")

            testCase "a persistent tape answers several gradients; a plain one only one"
            <| fun () ->
                scoped (fun () ->
                    let x = vector [ 2.0 ]
                    use persistent = new GradientTape(persistent = true)
                    persistent.Watch x |> ignore
                    let y = x * x
                    let z = y * y
                    expectClose "dz/dx" 0.0 (persistent.Gradient(z.sum (), x)) (vector [ 32.0 ])
                    expectClose "dy/dx" 0.0 (persistent.Gradient(y.sum (), x)) (vector [ 4.0 ])
                    let a = vector [ 1.0 ]
                    use plain = new GradientTape()
                    plain.Watch a |> ignore
                    let loss = (a * 3.0).sum()
                    plain.Gradient(loss, a) |> ignore

                    expectThrowsWith<InvalidOperationException> [ "non-persistent"; "persistent: true" ] (fun () ->
                        plain.Gradient(loss, a) |> ignore))

            testCase "nested tapes give second derivatives"
            <| fun () ->
                scoped (fun () ->
                    let x = scalar 3.0
                    use outer = new GradientTape()
                    outer.Watch x |> ignore

                    let dy =
                        use inner = new GradientTape()
                        inner.Watch x |> ignore
                        inner.Gradient(x.pow ((3.0).ToScalar()), x)

                    expectClose "first" 1e-12 dy (scalar 27.0)
                    expectClose "second" 1e-12 (outer.Gradient(dy, x)) (scalar 18.0))

            testCase "two tapes share one forward pass: the GAN step"
            <| fun () ->
                scoped (fun () ->
                    // Generator g(z) = a z + b; discriminator d(x) = sigmoid(c x). One forward pass,
                    // then each player's gradient of its own loss for its own parameters.
                    let gen = {| A = scalar 1.5; B = scalar -0.5 |}
                    let disc = {| C = scalar 0.8 |}
                    let z = vector [ -1.0; 0.0; 1.0 ]
                    let real = vector [ 2.0; 2.5; 3.0 ]

                    let forward (g: {| A: torch.Tensor; B: torch.Tensor |}) (d: {| C: torch.Tensor |}) =
                        let fake = g.A * z + g.B
                        let dFake = (d.C * fake).sigmoid()
                        let dReal = (d.C * real).sigmoid()
                        let genLoss = -(dFake.log().mean())
                        let discLoss = -(dReal.log().mean()) - ((1.0 - dFake).log().mean())
                        genLoss, discLoss

                    use genTape = new GradientTape()
                    use discTape = new GradientTape()
                    Tape.watch genTape gen |> ignore
                    Tape.watch discTape disc |> ignore
                    let genLoss, discLoss = forward gen disc
                    genTape.StopRecording()
                    discTape.StopRecording()
                    let genGrad = Tape.gradient genTape genLoss gen
                    let discGrad = Tape.gradient discTape discLoss disc
                    // The same gradients, computed separately with Grad.
                    let expectedGen =
                        Diff.grad (fun g -> fst (forward g (Tree.detach disc))) (Tree.detach gen)

                    let expectedDisc =
                        Diff.grad (fun d -> snd (forward (Tree.detach gen) d)) (Tree.detach disc)

                    expectClose "generator dA" 1e-12 genGrad.A expectedGen.A
                    expectClose "generator dB" 1e-12 genGrad.B expectedGen.B
                    expectClose "discriminator dC" 1e-12 discGrad.C expectedDisc.C)

            testCase "asking for an unwatched source is an error that says so"
            <| fun () ->
                scoped (fun () ->
                    let x = vector [ 1.0 ]
                    let y = vector [ 2.0 ]
                    use tape = new GradientTape()
                    tape.Watch x |> ignore

                    expectThrowsWith<InvalidOperationException> [ "not watched" ] (fun () ->
                        tape.Gradient((x * y).sum(), y) |> ignore))
        ]
