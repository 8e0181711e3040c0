namespace Functional.FSharp

open System
open TorchSharp
open Functional.Trees
open Functional.Optimizers

/// An optimizer's state for parameters shaped like 'P (an F# record of tensors, say): a tree the
/// caller owns, made by Optim.init and replaced by Optim.update.
type OptimState<'P> = { Tree: TensorTree }

/// Optimizers for F# values of parameters, Optax's way: pure transformations composed with
/// `|>`, `Optim.init` and `Optim.update` returning F# tuples shaped like the parameters.
/// `Optim.adam 1e-3 |> Optim.chain [ Optim.clipByGlobalNorm 1.0 ]` clips, then runs Adam as
/// one fused kernel.
[<RequireQualifiedAccess>]
module Optim =
    /// Stochastic gradient descent.
    let sgd (learningRate: float) = Optimizer.Sgd learningRate

    /// SGD with (Nesterov) momentum.
    let momentum (learningRate: float) (momentum: float) (nesterov: bool) =
        Optimizer.Sgd(learningRate, momentum, nesterov)

    /// Adam.
    let adam (learningRate: float) = Optimizer.Adam learningRate

    /// AdamW (decoupled weight decay).
    let adamw (learningRate: float) (weightDecay: float) =
        Optimizer.AdamW(learningRate, weightDecay)

    /// RMSProp.
    let rmsprop (learningRate: float) = Optimizer.RmsProp learningRate

    /// Adagrad.
    let adagrad (learningRate: float) = Optimizer.Adagrad learningRate

    /// Adam with a learning-rate schedule (step -> rate).
    let adamWith (schedule: int64 -> float) = Optimizer.Adam(Schedule(schedule))

    /// Clipping by global norm.
    let clipByGlobalNorm (maxNorm: float) = Transform.ClipByGlobalNorm maxNorm

    /// Clipping of each element.
    let clipByValue (maxAbs: float) = Transform.ClipByValue maxAbs

    /// Weight decay on the leaves whose path satisfies `mask` (before the learning rate, as AdamW).
    let addDecayedWeights (weightDecay: float) (mask: string -> bool) =
        Transform.AddDecayedWeights(weightDecay, Func<string, bool>(mask))

    /// `links` first, then `optimizer` (which keeps its fused step when it has one).
    let chain (links: GradientTransformation list) (optimizer: GradientTransformation) =
        Transform.Chain([| yield! links; optimizer |])

    /// `inner` on the leaves whose path satisfies `mask`; the others' gradients pass through.
    let masked (mask: string -> bool) (inner: GradientTransformation) =
        Transform.Masked(inner, Func<string, bool>(mask))

    /// One optimizer per group of leaves: `label path` names a leaf's group.
    let multiTransform (label: string -> string) (transforms: (string * GradientTransformation) list) =
        Transform.MultiTransform(readOnlyDict transforms, Func<string, string>(label))

    /// `inner`, with the leaves whose path satisfies `frozen` held still.
    let freeze (frozen: string -> bool) (inner: GradientTransformation) =
        Transform.Freeze(inner, Func<string, bool>(frozen))

    /// The optimizer's initial state for `parameters`.
    let init (optimizer: GradientTransformation) (parameters: 'P) : OptimState<'P> =
        {
            Tree = optimizer.Init.Invoke(Tree.toTree parameters)
        }

    /// The updates (shaped like the parameters) and the next state; changes nothing it is given.
    let update
        (optimizer: GradientTransformation)
        (gradients: 'P)
        (state: OptimState<'P>)
        (parameters: 'P)
        : 'P * OptimState<'P> =
        let struct (updates, next) =
            optimizer.Update(Tree.toTree gradients, state.Tree, Tree.toTree parameters)

        Tree.ofTree parameters updates, { Tree = next }

    /// parameters + updates, leaf by leaf.
    let apply (parameters: 'P) (updates: 'P) : 'P =
        Tree.ofTree parameters (Optimizer.ApplyUpdates(Tree.toTree parameters, Tree.toTree updates))

/// A hand-written training loop that owns native memory: each step runs in a dispose scope, and
/// only the new parameters and optimizer state (and the loss, as a float) leave it, owned by no
/// scope (so a loop body wrapped in `use _ = torch.NewDisposeScope()` frees only its
/// temporaries); the old ones are freed. An F# loop needs no Dispose calls.
[<RequireQualifiedAccess>]
module Train =
    /// Frees the leaves of `old` that `kept` does not hold (a transformation may hand a tensor on).
    let private freeExcept (kept: TensorTree list) (old: TensorTree list) =
        let keep =
            Collections.Generic.HashSet<torch.Tensor>(kept |> Seq.collect (fun t -> t.Leaves), HashIdentity.Reference)

        for tree in old do
            for t in tree.Leaves do
                if not (keep.Contains t) then
                    t.Dispose()

    /// One update of `optimizer` from gradients you computed (with a tape, say): the next
    /// parameters and state. The old parameters and state are given away (freed); the gradients stay yours.
    let applyGradients
        (optimizer: GradientTransformation)
        (gradients: 'P)
        (parameters: 'P)
        (state: OptimState<'P>)
        : 'P * OptimState<'P> =
        let old = [ Tree.toTree parameters; state.Tree ]

        let next, nextState =
            use _ = torch.NewDisposeScope()
            let updates, nextState = Optim.update optimizer gradients state parameters
            let next = Optim.apply parameters updates
            (Tree.toTree next).DetachFromDisposeScope() |> ignore
            nextState.Tree.DetachFromDisposeScope() |> ignore
            next, nextState

        freeExcept [ Tree.toTree next; nextState.Tree ] old
        next, nextState

    /// One step of `optimizer` on `loss`: the loss before the step, the next parameters and state.
    /// The old parameters and state are given away (freed).
    let step
        (optimizer: GradientTransformation)
        (loss: 'P -> torch.Tensor)
        (parameters: 'P)
        (state: OptimState<'P>)
        : float * 'P * OptimState<'P> =
        let value, gradients =
            use _ = torch.NewDisposeScope()
            let value, gradients = Diff.valueAndGrad loss parameters
            (Tree.toTree gradients).DetachFromDisposeScope() |> ignore
            value.to_type(torch.float64).item<float>(), gradients

        let next, nextState = applyGradients optimizer gradients parameters state
        (Tree.toTree gradients).Dispose()
        value, next, nextState

    /// `steps` steps from `parameters`; the final parameters, state and each step's loss. The
    /// starting parameters are given away.
    let run
        (optimizer: GradientTransformation)
        (loss: 'P -> torch.Tensor)
        (steps: int)
        (parameters: 'P)
        : 'P * OptimState<'P> * float list =
        let mutable current = parameters
        let mutable state = Optim.init optimizer parameters

        let losses =
            [
                for _ in 1..steps do
                    let value, next, nextState = step optimizer loss current state
                    current <- next
                    state <- nextState
                    yield value
            ]

        current, state, losses
