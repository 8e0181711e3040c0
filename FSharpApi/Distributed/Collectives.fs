namespace Functional.FSharp

open Functional.Distributed

/// Collectives over F# trees (records, tuples, lists and maps of tensors) for hand-written
/// data-parallel loops under mpirun: `Collectives.mean ranks gradients` before each update,
/// `Collectives.broadcast ranks parameters` once at the start. `ranks` is usually
/// `Communicator.World`; without mpirun it is one rank and every collective returns a copy of its input.
[<RequireQualifiedAccess>]
module Collectives =
    /// Every rank's `value` combined by `op`, as a new value of the same shape (the caller owns its tensors).
    let allReduce (ranks: Communicator) (op: ReduceOp) (value: 'T) : 'T =
        Tree.ofTree value (ranks.AllReduce(Tree.toTree value, op))

    /// The mean over the ranks (of gradients, before an update).
    let mean (ranks: Communicator) (value: 'T) : 'T = allReduce ranks ReduceOp.Mean value

    /// The sum over the ranks.
    let sum (ranks: Communicator) (value: 'T) : 'T = allReduce ranks ReduceOp.Sum value

    /// Rank 0's `value` on every rank, as a new value (the caller owns its tensors).
    let broadcast (ranks: Communicator) (value: 'T) : 'T =
        Tree.ofTree value (ranks.Broadcast(Tree.toTree value, 0))

    /// Waits until every rank has arrived.
    let barrier (ranks: Communicator) = ranks.Barrier()
