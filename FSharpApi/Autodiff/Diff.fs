namespace Functional.FSharp

open System
open TorchSharp
open Functional.Trees
open Functional.Autodiff

/// Function transforms over F# values of tensors (see Tree): `grad f` of a function of a
/// record of parameters returns a function giving a record of gradients. They compose:
/// `grad (fun x -> Tree.dot (grad f x) v)` is a Hessian-vector product.
[<RequireQualifiedAccess>]
module Diff =
    let private lift (template: 'P) (f: 'P -> 'O) : TensorTree -> TensorTree * 'O =
        fun tree -> let o = f (Tree.ofTree template tree) in Tree.toTree o, o

    /// The gradient of a scalar-valued function, shaped like its argument.
    let grad (f: 'P -> torch.Tensor) : 'P -> 'P =
        fun x ->
            Tree.ofTree
                x
                (Transforms.Grad(Func<TensorTree, torch.Tensor>(fun t -> f (Tree.ofTree x t))).Invoke(Tree.toTree x))

    /// The value and the gradient of a scalar-valued function.
    let valueAndGrad (f: 'P -> torch.Tensor) : 'P -> torch.Tensor * 'P =
        fun x ->
            let struct (value, g) =
                Transforms
                    .ValueAndGrad(Func<TensorTree, torch.Tensor>(fun t -> f (Tree.ofTree x t)))
                    .Invoke(Tree.toTree x)

            value, Tree.ofTree x g

    /// The value, auxiliary data and gradient of a function returning (scalar loss, aux).
    let valueAndGradAux (f: 'P -> torch.Tensor * 'A) : 'P -> torch.Tensor * 'A * 'P =
        fun x ->
            let struct (value, aux, g) =
                Transforms
                    .ValueAndGrad<'A>(
                        Func<TensorTree, struct (torch.Tensor * 'A)>(fun t ->
                            let l, a = f (Tree.ofTree x t) in struct (l, a))
                    )
                    .Invoke(Tree.toTree x)

            value, aux, Tree.ofTree x g

    /// f's output at x and its pullback: output cotangent -> input cotangent (J^T v).
    let vjp (f: 'P -> 'O) (x: 'P) : 'O * ('O -> 'P) =
        let mutable template = Unchecked.defaultof<'O>
        let run = lift x f

        let struct (output, pullback) =
            Transforms.Vjp(
                Func<TensorTree, TensorTree>(fun t ->
                    let tree, o = run t in
                    template <- o
                    tree),
                Tree.toTree x
            )

        Tree.ofTree template output, fun v -> Tree.ofTree x (pullback.Invoke(Tree.toTree v))

    /// f's output at x and its directional derivative J u along u.
    let jvp (f: 'P -> 'O) (x: 'P) (u: 'P) : 'O * 'O =
        let mutable template = Unchecked.defaultof<'O>
        let run = lift x f

        let struct (output, tangent) =
            Transforms.Jvp(
                Func<TensorTree, TensorTree>(fun t ->
                    let tree, o = run t in
                    template <- o
                    tree),
                Tree.toTree x,
                Tree.toTree u
            )

        Tree.ofTree template output, Tree.ofTree template tangent

    /// The Hessian-vector product H v of a scalar function at x.
    let hvp (f: 'P -> torch.Tensor) (x: 'P) (v: 'P) : 'P =
        Tree.ofTree
            x
            (Transforms.HessianVectorProduct(
                Func<TensorTree, torch.Tensor>(fun t -> f (Tree.ofTree x t)),
                Tree.toTree x,
                Tree.toTree v
            ))

    /// The Jacobian of f at x: for each leaf, a tensor of shape output.shape @ leaf.shape.
    let jacobian (f: 'P -> torch.Tensor) (x: 'P) : 'P =
        Tree.ofTree x (Transforms.Jacobian(Func<TensorTree, torch.Tensor>(fun t -> f (Tree.ofTree x t)), Tree.toTree x))

    /// x's value with no gradient flowing back through it.
    let stopGradient (x: 'P) : 'P = Tree.detach x

    /// A function with a gradient rule of your own: `forward x` returns (output, residuals);
    /// `backward residuals outputCotangent` returns the input cotangent, shaped like x.
    let customVjp (forward: 'P -> 'O * 'R) (backward: 'R -> 'O -> 'P) : 'P -> 'O =
        fun x ->
            let mutable outputTemplate = Unchecked.defaultof<'O>
            let mutable residualTemplate = Unchecked.defaultof<'R>

            let rule =
                Transforms.CustomVjp(
                    Func<TensorTree, struct (TensorTree * TensorTree)>(fun t ->
                        let o, r = forward (Tree.ofTree x t)
                        outputTemplate <- o
                        residualTemplate <- r
                        struct (Tree.toTree o, Tree.toTree r)),
                    Func<TensorTree, TensorTree, TensorTree>(fun r v ->
                        Tree.toTree (backward (Tree.ofTree residualTemplate r) (Tree.ofTree outputTemplate v)))
                )
            // The rule's forward sets the template: read it only after the call.
            let output = rule.Invoke(Tree.toTree x)
            Tree.ofTree outputTemplate output

    /// Rematerialisation: same values and gradients as f, but only x is stored for the
    /// backward pass and f runs again during it. Gradients flow to x only: pass parameters in x.
    let checkpoint (f: 'P -> 'O) : 'P -> 'O =
        fun x ->
            let mutable template = Unchecked.defaultof<'O>
            let run = lift x f

            let remat =
                Transforms.Checkpoint(
                    Func<TensorTree, TensorTree>(fun t ->
                        let tree, o = run t in
                        template <- o
                        tree)
                )

            let output = remat.Invoke(Tree.toTree x)
            Tree.ofTree template output
