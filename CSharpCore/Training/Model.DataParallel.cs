using Functional.Distributed;
using Functional.Layers;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Training;

// Fit's side of data parallelism (see DataParallel): what one Fit call under mpirun adds.
public sealed partial class Model
{
    /// <summary>One data-parallel Fit: the rank's batch source, the step's reductions and their reused buffers.</summary>
    sealed class ParallelFit(DataParallel strategy) : IDisposable
    {
        readonly Communicator ranks = strategy.Communicator;
        readonly FusedReduction reduction = new(strategy.Communicator);
        RankShares? shares;

        public bool IsRoot => ranks.IsRoot;

        /// <summary>What this rank trains on: in exact mode its share of every global batch (every
        /// rank is given the same data); in scalable mode the data it was given, its own.</summary>
        public IBatchSource Source(IBatchSource train)
        {
            if (strategy.Mode == DataParallelMode.Scalable) return train;
            shares = new RankShares(train, ranks);
            return shares;
        }

        /// <summary>The options this rank runs Fit with: progress and writing callbacks on rank 0 only.</summary>
        public FitOptions ForThisRank(FitOptions options) => ranks.IsRoot ? options
            : options with { Verbosity = Verbosity.Silent, Progress = null, Callbacks = [.. options.Callbacks.Where(c => !c.WritesOutput)] };

        /// <summary>The step's context: the global batch's rows (exact mode), the ranks BatchNorm combines.</summary>
        public ApplyContext Adjust(ApplyContext context) => context with
        {
            Share = strategy.Mode == DataParallelMode.Exact ? shares?.Current : null,
            Replicas = strategy.SynchronizesBatchNorm ? ranks : null,
        };

        /// <summary>Whether to take the next step, agreed by every rank (one tiny all-reduce):
        /// false on all when one has no batch left, so sources of different lengths end the epoch
        /// together instead of leaving a rank waiting for ever.</summary>
        /// <exception cref="OperationCanceledException">Fit was cancelled on this rank or another.</exception>
        public bool Continue(bool cancelled, bool hasBatch)
        {
            long agreed = ranks.AllReduce([cancelled ? 0L : hasBatch ? 2L : 1L], ReduceOp.Min)[0];
            if (agreed == 0)
                throw new OperationCanceledException(cancelled ? "Fit was cancelled." : "Fit was cancelled on another rank.");
            return agreed == 2;
        }

        /// <summary>
        /// Averages the gradients over the ranks, each rank weighted by the rows its loss
        /// counted, and the floating model state (BatchNorm statistics) plainly, in one fused
        /// message that also carries the losses; returns the global batch's loss and each
        /// output's (mean loss, counted rows).
        /// </summary>
        public (double Loss, (double Mean, long Rows)[] Heads) Reduce(TensorTree gradient, TensorTree modelState, double loss, long rows,
            (double Mean, long Rows)[] heads)
        {
            var state = modelState.Leaves.Where(t => t.is_floating_point()).ToArray();
            Tensor[] leaves = [.. gradient.Leaves, .. state];
            double[] before = [.. gradient.Leaves.Select(_ => (double)rows), .. state.Select(_ => 1.0)];
            double[] extras = [loss * rows, rows, .. heads.SelectMany(h => new[] { h.Mean * h.Rows, h.Rows })];
            // Gradients become the row-weighted mean (the global batch's gradient); model state the plain mean.
            double[] After(double[] sums) => [.. gradient.Leaves.Select(_ => 1 / Math.Max(sums[1], 1)), .. state.Select(_ => 1.0 / ranks.Size)];
            var summed = reduction.Run(leaves, ReduceOp.Sum, before, After, extras);
            var reducedHeads = heads.Select((_, h) => (summed[2 + 2 * h] / Math.Max(summed[3 + 2 * h], 1), (long)summed[3 + 2 * h])).ToArray();
            return (summed[0] / Math.Max(summed[1], 1), reducedHeads);
        }

        /// <summary>Sums the metrics' states over the ranks (they are sums of per-batch values).</summary>
        public void ReduceMetrics(double[][] metricStates)
        {
            var all = ranks.AllReduce(metricStates.SelectMany(s => s).ToArray(), ReduceOp.Sum);
            int at = 0;
            foreach (var state in metricStates)
            {
                Array.Copy(all, at, state, 0, state.Length);
                at += state.Length;
            }
        }

        public void Dispose() => reduction.Dispose();
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
