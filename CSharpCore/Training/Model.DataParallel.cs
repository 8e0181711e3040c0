using Functional.Distributed;
using Functional.Layers;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Training;

// Fit's side of data parallelism (see DataParallel): what one Fit call under mpirun adds.
public sealed partial class Model
{
    /// <summary>One data-parallel Fit: the rank's batch sources, the step's reductions and their reused buffers.</summary>
    sealed class ParallelFit(DataParallel strategy) : IDisposable
    {
        readonly Communicator ranks = strategy.Communicator;
        readonly FusedReduction reduction = new(strategy.Communicator);
        RankShares? shares;
        OverlappedReduction? overlapped;

        bool Exact => strategy.Mode == DataParallelMode.Exact;

        /// <summary>What this rank trains on: in exact mode its share of every global batch (every
        /// rank is given the same data); in scalable mode the data it was given, its own.</summary>
        public IBatchSource Source(IBatchSource train)
        {
            if (!Exact) return train;
            shares = new RankShares(train, ranks);
            return shares;
        }

        /// <summary>What this rank evaluates after each epoch: its share (exact mode) or its own
        /// data (scalable mode); the sums are then added over the ranks.</summary>
        public IBatchSource? ValidationSource(IBatchSource? validation) =>
            validation is not null && Exact ? new RankShares(validation, ranks) : validation;

        /// <summary>The options this rank runs Fit with: progress and writing callbacks on rank 0 only.</summary>
        public FitOptions ForThisRank(FitOptions options) => ranks.IsRoot ? options
            : options with { Verbosity = Verbosity.Silent, Progress = null, Callbacks = [.. options.Callbacks.Where(c => !c.WritesOutput)] };

        /// <summary>Rank 0's thread count, for every rank.</summary>
        public int RootsThreads(int threads) => (int)ranks.Broadcast([threads])[0];

        /// <summary>The step's context: in exact mode the global batch's rows (Dropout's masks); in
        /// scalable mode a key of this rank's own (its rows are other examples than another
        /// rank's rows at the same positions); the ranks BatchNorm combines when synchronised.</summary>
        public ApplyContext Adjust(ApplyContext context) => context with
        {
            Share = Exact ? shares?.Current : null,
            Key = Exact ? context.Key : context.Key?.Fold($"rank {ranks.Rank}"),
            Replicas = strategy.SynchronizesBatchNorm ? ranks : null,
        };

        /// <summary>With overlapped communication, what passes the trained parameters through the
        /// markers that start their buckets' all-reduce in the backward pass; otherwise null.</summary>
        public Func<TensorTree, TensorTree>? Markers => strategy.OverlapCommunication ? Mark : null;

        TensorTree Mark(TensorTree parameters)
        {
            overlapped ??= new OverlappedReduction(ranks, parameters, strategy.OverlapBucketElements);
            return overlapped.Mark(parameters);
        }

        /// <summary>Whether to take the next step, agreed by every rank in one small all-reduce,
        /// and the rows the global batch's losses count: null on all ranks when one has no batch
        /// left, so sources of different lengths end the epoch together instead of leaving a rank
        /// waiting for ever.</summary>
        /// <exception cref="OperationCanceledException">Fit was cancelled on this rank or another.</exception>
        public long? Continue(bool cancelled, bool hasBatch, long rows)
        {
            var sums = ranks.AllReduce([cancelled ? 1L : 0L, hasBatch ? 0L : 1L, rows], ReduceOp.Sum);
            if (sums[0] > 0)
                throw new OperationCanceledException(cancelled ? "Fit was cancelled." : "Fit was cancelled on another rank.");
            return sums[1] > 0 ? null : sums[2];
        }

        /// <summary>
        /// Sums the ranks' gradients (each rank's are already weighted by its share of the
        /// global batch) and averages the model state that changed in this step (BatchNorm's
        /// running statistics; they are equal on every rank when BatchNorm is synchronised, so
        /// then nothing is sent), in one fused message that also carries the losses; returns the
        /// global batch's loss and each output's (mean loss, counted rows).
        /// </summary>
        public (double Loss, (double Mean, long Rows)[] Heads) Reduce(TensorTree gradient, TensorTree modelState, TensorTree current,
            double loss, long rows, (double Mean, long Rows)[] heads)
        {
            // A layer that hands its state on unchanged shares the live state's storage: not written.
            var live = current.Leaves.Select(Communicator.Address).ToHashSet();
            var state = strategy.SynchronizesBatchNorm ? []
                : modelState.Leaves.Where(t => t.is_floating_point() && !live.Contains(Communicator.Address(t))).ToArray();
            // Overlapped: the gradients' reductions are under way; what is left travels after them.
            overlapped?.Finish(gradient);
            IReadOnlyList<Tensor> sent = overlapped is null ? gradient.Leaves : [];
            Tensor[] leaves = [.. sent, .. state];
            double[] extras = [loss * rows, rows, .. heads.SelectMany(h => new[] { h.Mean * h.Rows, h.Rows })];
            double[] after = [.. sent.Select(_ => 1.0), .. state.Select(_ => 1.0 / ranks.Size)];
            var summed = reduction.Run(leaves, ReduceOp.Sum, after, extras);
            var reducedHeads = heads.Select((_, h) => (summed[2 + 2 * h] / Math.Max(summed[3 + 2 * h], 1), (long)summed[3 + 2 * h])).ToArray();
            return (summed[0] / Math.Max(summed[1], 1), reducedHeads);
        }

        /// <summary>Sums the metrics' states over the ranks (they are sums of per-batch values).</summary>
        public void ReduceMetrics(double[][] metricStates)
        {
            var all = ranks.AllReduce(metricStates.SelectMany(s => s).ToArray(), ReduceOp.Sum);
            Unpack(all, 0, metricStates);
        }

        /// <summary>Adds an evaluation's loss sums, counts and metric states over the ranks.</summary>
        public void ReduceEvaluation(LossAverages losses, double[][] metricStates)
        {
            var totals = losses.Totals();
            var all = ranks.AllReduce([.. totals, .. metricStates.SelectMany(s => s)], ReduceOp.Sum);
            losses.SetTotals(all[..totals.Length]);
            Unpack(all, totals.Length, metricStates);
        }

        static void Unpack(double[] all, int at, double[][] metricStates)
        {
            foreach (var state in metricStates)
            {
                Array.Copy(all, at, state, 0, state.Length);
                at += state.Length;
            }
        }

        /// <summary>Ends the job after an exception escaped this rank's Fit: the other ranks may
        /// wait in a collective this rank will not call.</summary>
        public void AbortJob(Exception e) => ranks.Abort($"Fit failed: {e}");

        public void Dispose()
        {
            reduction.Dispose();
            overlapped?.Dispose();
        }
    }

    /// <summary>In data-parallel training, makes every rank start from rank 0's state:
    /// parameters, model state, optimizer state, step and seed (which orders the shuffle).</summary>
    void StartFromRootState(FitOptions options)
    {
        if (options.Distribution is { IsDistributed: true } distribution)
        {
            ThrowIfDisposed();
            Writing(() =>
            {
                RequireNotFittingElsewhere("Fit");
                BroadcastState(distribution.Communicator);
            });
        }
    }

    void BroadcastState(Communicator ranks)
    {
        ranks.BroadcastInPlace(State.Params);
        ranks.BroadcastInPlace(State.ModelState);
        ranks.BroadcastInPlace(State.OptState);
        var counters = ranks.Broadcast([State.Step, unchecked((long)State.Seed)]);
        State = State with { Step = counters[0], Seed = unchecked((ulong)counters[1]) };
    }
}
