/// Laws the function transforms must satisfy, on random trees.
module Functional.PropertyTests.TransformLawTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Functional.Trees
open Functional.Autodiff
open Functional.FSharp
open Functional.FSharp.Testing
open Support

let private F (f: TensorTree -> TensorTree) = Func<TensorTree, TensorTree>(f)
let private S (f: TensorTree -> torch.Tensor) = Func<TensorTree, torch.Tensor>(f)

/// A tree-to-tree function that mixes leaves (a non-diagonal Jacobian).
let private mix (t: TensorTree) =
    let total = Transforms.Dot(t, t)

    TensorTree.Of(
        struct ("elementwise", (t.Flatten().sin() * total)),
        struct ("cross", (t.Flatten().tanh().sum() * total).reshape(1L, 1L))
    )

/// A smooth scalar function of a tree.
let private energy (t: TensorTree) =
    (t.Flatten().sin() * t.Flatten()).sum() * (Transforms.Dot(t, t) + 1.0)

let private other (t: TensorTree) = t.Flatten().exp().sum()

/// Random trees with a second and third tree of the same structure.
let private triple =
    gen {
        let! sample = Generators.tree

        let sameShape (s: TensorSample) =
            Generators.tensorOfShape s.Shape -1.0 1.0

        let! u =
            sample.Leaves
            |> List.map (fun (p, s) -> sameShape s |> Gen.map (fun t -> p, t))
            |> Gen.sequenceToList

        let! v =
            sample.Leaves
            |> List.map (fun (p, s) -> sameShape s |> Gen.map (fun t -> p, t))
            |> Gen.sequenceToList

        return sample, { Leaves = u }, { Leaves = v }
    }

let private property name body =
    testPropertyWithConfig
        config
        name
        (Prop.forAll (Arb.fromGen triple) (fun (x: TreeSample, u: TreeSample, v: TreeSample) ->
            scoped (fun () -> body (x.ToTree()) (u.ToTree()) (v.ToTree()))))

let tests =
    testList
        "transform laws"
        [
            property "<v, J u> = <J^T v, u> (jvp and vjp agree)"
            <| fun x u _ ->
                let struct (output, ju) = Transforms.Jvp(F mix, x, u)
                let v = output.Map(fun t -> torch.cos (t * 3.0 + 1.0))
                let struct (_, pullback) = Transforms.Vjp(F mix, x)
                let left = Transforms.Dot(v, ju).item<float>()
                let right = Transforms.Dot(pullback.Invoke v, u).item<float>()
                Expect.floatClose Accuracy.medium left right "adjoint identity"

            property "<u, H v> = <v, H u> (Hessian-vector products are symmetric)"
            <| fun x u v ->
                let hv = Transforms.HessianVectorProduct(S energy, x, v)
                let hu = Transforms.HessianVectorProduct(S energy, x, u)

                Expect.floatClose
                    Accuracy.medium
                    (Transforms.Dot(u, hv).item<float>())
                    (Transforms.Dot(v, hu).item<float>())
                    "symmetry"

            property "H v matches the finite difference of the gradient along v"
            <| fun x _ v ->
                let h = 1e-6
                let hv = Transforms.HessianVectorProduct(S energy, x, v)
                let grad = Transforms.Grad(S energy)
                let plus = grad.Invoke(x.Zip(v, fun a b -> a + h * b))
                let minus = grad.Invoke(x.Zip(v, fun a b -> a - h * b))
                expectTreesClose "Hv" 1e-4 hv (plus.Zip(minus, fun p m -> (p - m) / (2.0 * h)))

            property "grad (f + g) = grad f + grad g"
            <| fun x _ _ ->
                let sum = Transforms.Grad(S(fun t -> energy t + other t)).Invoke x

                let separate =
                    (Transforms.Grad(S energy).Invoke x).Zip(Transforms.Grad(S other).Invoke x, fun a b -> a + b)

                expectTreesClose "linearity" 1e-9 sum separate

            property "checkpoint gives the same value and gradients as the plain function"
            <| fun x _ _ ->
                let remat = Transforms.Checkpoint(F mix)
                let scalarOf (f: TensorTree -> TensorTree) t = let y = f t in Transforms.Dot(y, y)

                let struct (plainValue, plainGrad) =
                    Transforms.ValueAndGrad(S(scalarOf mix)).Invoke x

                let struct (rematValue, rematGrad) =
                    Transforms.ValueAndGrad(S(scalarOf remat.Invoke)).Invoke x

                expectClose "value" 1e-12 rematValue plainValue
                expectTreesClose "gradient" 1e-10 rematGrad plainGrad

            property "each row of the Jacobian is a vjp with a basis vector"
            <| fun x _ _ ->
                let f (t: TensorTree) = (mix t).["elementwise"]
                let jacobian = Transforms.Jacobian(S f, x)
                let struct (output, pullback) = Transforms.Vjp(F(fun t -> TensorTree.Leaf(f t)), x)
                let n = output.[""].numel()
                let k = n / 2L
                let basis = torch.zeros (n, dtype = torch.float64)
                basis.[k] <- scalar 1.0
                let row = pullback.Invoke(TensorTree.Leaf basis)

                for p in x.Paths do
                    expectClose $"row {k} at {p}" 1e-12 (jacobian.[p].[k]) row.[p]

            testCase "grad of grad: d2/dx2 of sum(x^3) is 6x"
            <| fun () ->
                scoped (fun () ->
                    let x = vector [ -1.0; 0.5; 2.0 ]

                    let first =
                        Transforms.Grad(Func<torch.Tensor, torch.Tensor>(fun t -> t.pow((3.0).ToScalar()).sum()))

                    let second =
                        Transforms.Grad(Func<torch.Tensor, torch.Tensor>(fun t -> first.Invoke(t).sum())).Invoke x

                    expectClose "6x" 1e-12 second (x * 6.0)

                    let third =
                        Transforms
                            .Grad(
                                Func<torch.Tensor, torch.Tensor>(fun t ->
                                    Transforms
                                        .Grad(Func<torch.Tensor, torch.Tensor>(fun s -> first.Invoke(s).sum()))
                                        .Invoke(t)
                                        .sum())
                            )
                            .Invoke
                            x

                    expectClose "third derivative" 1e-12 third (torch.full_like (x, 6.0)))

            testCase "nested grads do not confuse their inputs (perturbation confusion)"
            <| fun () ->
                scoped (fun () ->
                    // d/dx [ x * (d/dy (x + y) at y = 1) ] = d/dx [ x * 1 ] = 1, not 2.
                    let d (f: torch.Tensor -> torch.Tensor) =
                        fun (x: torch.Tensor) -> Transforms.Grad(Func<torch.Tensor, torch.Tensor>(f)).Invoke x

                    let result =
                        d (fun (x: torch.Tensor) -> x * d (fun (y: torch.Tensor) -> x + y) (scalar 1.0)) (scalar 3.0)

                    expectClose "d/dx" 0.0 result (scalar 1.0))

            testCase "stopGradient blocks the gradient; valueAndGrad with aux returns the aux"
            <| fun () ->
                scoped (fun () ->
                    let x = vector [ 1.0; -2.0 ]

                    let g =
                        Transforms
                            .Grad(Func<torch.Tensor, torch.Tensor>(fun t -> (Transforms.StopGradient t * t).sum()))
                            .Invoke
                            x

                    expectClose "only the live factor" 0.0 g x

                    let struct (value, aux, grad) =
                        Transforms
                            .ValueAndGrad<string>(
                                Func<TensorTree, struct (torch.Tensor * string)>(fun t ->
                                    struct ((t.[""] * t.[""]).sum(), "aux"))
                            )
                            .Invoke(TensorTree.Leaf x)

                    expectClose "value" 0.0 value (scalar 5.0)
                    Expect.equal aux "aux" "aux"
                    expectClose "grad" 0.0 grad.[""] (x * 2.0))

            testCase "F# grad over a record returns the same record type"
            <| fun () ->
                scoped (fun () ->
                    let p =
                        {|
                            W = vector [ 1.0; 2.0 ]
                            B = scalar 0.5
                        |}

                    let loss (q: {| W: torch.Tensor; B: torch.Tensor |}) = (q.W * q.W).sum() + q.B * 3.0
                    let g = Diff.grad loss p
                    expectClose "dW" 0.0 g.W (vector [ 2.0; 4.0 ])
                    expectClose "dB" 0.0 g.B (scalar 3.0)
                    let value, aux, g2 = Diff.valueAndGradAux (fun q -> loss q, q.W.sum ()) p
                    expectClose "value" 1e-12 value (scalar 6.5)
                    expectClose "aux" 0.0 aux (scalar 3.0)
                    expectClose "same gradient" 0.0 g2.W g.W

                    let hv =
                        Diff.hvp
                            loss
                            p
                            {|
                                W = vector [ 1.0; 0.0 ]
                                B = scalar 1.0
                            |}

                    expectClose "H v" 0.0 hv.W (vector [ 2.0; 0.0 ])

                    let out, tangent =
                        Diff.jvp
                            (fun (q: {| W: torch.Tensor; B: torch.Tensor |}) -> q.W * q.B)
                            p
                            {|
                                W = vector [ 0.0; 0.0 ]
                                B = scalar 1.0
                            |}

                    expectClose "jvp output" 0.0 out (vector [ 0.5; 1.0 ])
                    expectClose "jvp tangent" 0.0 tangent p.W)
        ]
