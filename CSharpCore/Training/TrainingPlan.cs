using System.Diagnostics;
using Functional.Layers;
using TorchSharp;

namespace Functional.Training;

/// <summary>
/// How Fit sets up its steps (<see cref="FitOptions.Plan"/>): the intra-op thread count, which is
/// process-wide in libtorch and matters a lot for small steps (a tiny MLP at batch 8 ran 4x slower
/// with 2 threads than with 1 on the project's 2-core machines). <see cref="Measured"/> times a
/// few steps with each candidate on a copy of the state before training; <see cref="Pinned"/>
/// reuses a choice, so a run can be reproduced exactly. Fit sets the threads for its duration and
/// puts libtorch's setting back when it returns.
/// </summary>
public sealed class TrainingPlan
{
    TrainingPlan(int? threads) => PinnedThreads = threads;

    /// <summary>The pinned thread count, or null when Fit measures.</summary>
    public int? PinnedThreads { get; }

    /// <summary>Fit measures each thread count from 1 to the machine's cores (powers of two and
    /// the count itself) on its first batch: 3 steps to warm up and 5 timed, two rounds each,
    /// alternating, the fastest median wins.</summary>
    public static TrainingPlan Measured { get; } = new(null);

    /// <summary>Fit runs with <paramref name="threads"/> intra-op threads.</summary>
    public static TrainingPlan Pinned(int threads) =>
        threads >= 1 ? new(threads) : throw new ArgumentOutOfRangeException(nameof(threads), threads, "A plan needs at least 1 thread.");

    /// <summary>The thread counts a measured plan tries on this machine.</summary>
    public static int[] Candidates()
    {
        int cores = Environment.ProcessorCount;
        var counts = new SortedSet<int> { cores };
        for (int t = 1; t < cores; t *= 2) counts.Add(t);
        return [.. counts];
    }
}

/// <summary>The plan a Fit ran with (<see cref="Model.Plan"/>): what was chosen and, for a
/// measured plan, what each candidate took.</summary>
/// <param name="Threads">Intra-op threads.</param>
/// <param name="MillisecondsPerStep">Median time per step by thread count (empty for a pinned plan).</param>
/// <param name="FusedOptimizer">Whether the optimizer runs as one fused kernel.</param>
/// <param name="Precision">The model's precision policy.</param>
public sealed record StepPlan(int Threads, IReadOnlyDictionary<int, double> MillisecondsPerStep, bool FusedOptimizer, PrecisionPolicy Precision)
{
    /// <summary>A plan that reproduces this one.</summary>
    public TrainingPlan Pin() => TrainingPlan.Pinned(Threads);

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Threads} intra-op thread{(Threads == 1 ? "" : "s")}"
        + (MillisecondsPerStep.Count == 0 ? " (pinned)"
            : $" (measured: {string.Join(", ", MillisecondsPerStep.Select(kv => $"{kv.Key} → {kv.Value:F2} ms/step"))})")
        + $", {(FusedOptimizer ? "fused" : "unfused")} optimizer, {Precision.Name}";
}

public sealed partial class Model
{
    /// <summary>The plan the last Fit with a <see cref="FitOptions.Plan"/> ran with; null before one.</summary>
    public StepPlan? Plan { get; private set; }

    /// <summary>Resolves <paramref name="plan"/> (measuring on <paramref name="sample"/> if needed).
    /// The model's state is untouched: measured steps train a copy.</summary>
    StepPlan ResolvePlan(TrainingPlan plan, Func<Batch?> sample)
    {
        bool fused = Optimizer.FusedStep is not null;
        if (plan.PinnedThreads is { } pinned) return new StepPlan(pinned, new Dictionary<int, double>(), fused, Precision);
        using var batch = sample();
        if (batch is null) return new StepPlan(torch.get_num_threads(), new Dictionary<int, double>(), fused, Precision);
        var candidates = TrainingPlan.Candidates();
        var times = candidates.ToDictionary(t => t, _ => new List<double>());
        for (int round = 0; round < 2; round++)
            foreach (int threads in candidates)
            {
                torch.set_num_threads(threads);
                var state = State.Copy();
                try
                {
                    for (int i = 0; i < 8; i++)
                    {
                        long start = Stopwatch.GetTimestamp();
                        using (var scope = torch.NewDisposeScope())
                        {
                            var (next, loss, _) = TrainStep(state, batch, donate: true);
                            loss.item<float>();
                            next.ModelState.MoveToOuterDisposeScope();   // parameters and optimizer state are the donated copies
                            state.DisposeExcept(next);
                            state = next;
                        }
                        if (i >= 3) times[threads].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    }
                }
                finally
                {
                    state.DisposeExcept(state with { Params = Trees.TensorTree.Empty, ModelState = Trees.TensorTree.Empty, OptState = Trees.TensorTree.Empty });
                }
            }
        var medians = times.ToDictionary(kv => kv.Key, kv => kv.Value.Order().ElementAt(kv.Value.Count / 2));
        return new StepPlan(medians.MinBy(kv => kv.Value).Key, medians, fused, Precision);
    }
}
