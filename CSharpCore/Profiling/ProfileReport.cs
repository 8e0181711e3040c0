using System.Text;
using Functional.Training;

namespace Functional.Profiling;

/// <summary>What limits the recorded steps, in the manner of TensorFlow's profiler overview.</summary>
public enum Bottleneck
{
    /// <summary>20% or more of the step waits for input.</summary>
    Input,
    /// <summary>5% to 20% of the step waits for input.</summary>
    PartlyInput,
    /// <summary>The model's own work (forward, backward, optimizer).</summary>
    Compute,
    /// <summary>Callbacks take 20% or more of the step.</summary>
    Callbacks,
}

/// <summary>
/// A summary of recorded steps: the mean step and its phases, the layers that take the most
/// time, the input stages, the sampled heap peak, and a verdict with advice. <see cref="ToString"/>
/// is the text report.
/// </summary>
public sealed class ProfileReport
{
    /// <summary>The input-wait share from which a run is input-bound (TensorFlow's threshold).</summary>
    public const double InputBoundShare = 0.20;
    /// <summary>The input-wait share from which a run is partly input-bound.</summary>
    public const double PartlyInputBoundShare = 0.05;

    internal ProfileReport(IReadOnlyList<StepProfile> steps)
    {
        if (steps.Count == 0) throw new ArgumentException("A report needs at least one recorded step.", nameof(steps));
        Steps = steps.Count;
        (FirstStep, LastStep) = (steps[0].Step, steps[^1].Step);
        MeanStep = Mean(steps.Select(s => s.Duration));
        Phases = [.. steps.SelectMany(s => s.Phases.Select(p => p.Name)).Distinct().Select(name => new PhaseProfile(name, Mean(steps.Select(s => s.Phase(name)))))];
        InputWaitShare = steps.Sum(s => s.Phase(PhaseNames.Input).TotalSeconds) / Math.Max(1e-12, steps.Sum(s => s.Duration.TotalSeconds));
        Layers = [.. steps.SelectMany(s => s.Layers).GroupBy(l => l.Name).Select(g =>
        {
            var first = g.First();
            long? bytes = g.All(l => l.ActivationBytes is not null) ? (long)g.Average(l => l.ActivationBytes!.Value) : null;
            return new LayerProfile(first.Name, first.Kind, first.Depth, first.Composite,
                TimeSpan.FromTicks(g.Sum(l => l.Forward.Ticks) / Steps), TimeSpan.FromTicks(g.Sum(l => l.Backward.Ticks) / Steps), bytes);
        })];
        Stages = [.. steps.SelectMany(s => s.Stages).GroupBy(s => s.Name).Select(g => new StageProfile(g.Key,
            TimeSpan.FromTicks(g.Sum(s => s.Busy.Ticks) / Steps), TimeSpan.FromTicks(g.Sum(s => s.WaitingUpstream.Ticks) / Steps),
            g.Sum(s => s.Elements) / Steps, g.Last().Workers))];
        PeakHeapBytes = steps.Max(s => s.PeakHeapBytes);
        (Bottleneck, Verdict) = Judge();
    }

    /// <summary>Steps recorded.</summary>
    public int Steps { get; }
    /// <summary>The first and last step recorded.</summary>
    public long FirstStep { get; }
    /// <inheritdoc cref="FirstStep"/>
    public long LastStep { get; }
    /// <summary>The mean step time, input wait included.</summary>
    public TimeSpan MeanStep { get; }
    /// <summary>Each phase's mean time per step.</summary>
    public IReadOnlyList<PhaseProfile> Phases { get; }
    /// <summary>Share of step time spent waiting for input, in [0, 1].</summary>
    public double InputWaitShare { get; }
    /// <summary>Every layer call's mean times per step, in call order.</summary>
    public IReadOnlyList<LayerProfile> Layers { get; }
    /// <summary>Layers that are not composites (and the loss), by forward plus backward time, most first.</summary>
    public IReadOnlyList<LayerProfile> TopLayers => [.. Layers.Where(l => !l.Composite).OrderByDescending(l => l.Total)];
    /// <summary>Each input stage's mean work per step.</summary>
    public IReadOnlyList<StageProfile> Stages { get; }
    /// <summary>The largest sampled heap in use (null where it cannot be read).</summary>
    public long? PeakHeapBytes { get; }
    /// <summary>What limits the steps.</summary>
    public Bottleneck Bottleneck { get; }
    /// <summary>The verdict and advice, e.g. "input-bound: 38% of step time waiting for input;
    /// try Prefetch, Parallelism.Auto or Cache".</summary>
    public string Verdict { get; }

    double Share(TimeSpan part) => MeanStep > TimeSpan.Zero ? part / MeanStep : 0;

    TimeSpan PhaseMean(string name) => Phases.FirstOrDefault(p => p.Name == name)?.Duration ?? TimeSpan.Zero;

    (Bottleneck, string) Judge()
    {
        var waiting = $"{100 * InputWaitShare:F0}% of step time waiting for input";
        var busiest = Stages.Where(s => s.Busy > TimeSpan.Zero).OrderByDescending(s => s.Busy).FirstOrDefault();
        var stage = busiest is null ? ""
            : $"; the busiest stage is '{busiest.Name}' ({busiest.Busy.TotalMilliseconds:F1} ms of work per step{(busiest.Workers > 0 ? $" on {busiest.Workers} workers" : "")})";
        if (InputWaitShare >= InputBoundShare)
            return (Bottleneck.Input, $"input-bound: {waiting}; try Prefetch, Parallelism.Auto or Cache{stage}");
        if (InputWaitShare >= PartlyInputBoundShare)
            return (Bottleneck.PartlyInput, $"partly input-bound: {waiting}; try Prefetch or Parallelism.Auto{stage}");
        double callbacks = Share(PhaseMean(PhaseNames.Callbacks));
        if (callbacks >= 0.20)
            return (Bottleneck.Callbacks, $"callback-bound: callbacks take {100 * callbacks:F0}% of the step; log or save less often");
        var top = TopLayers.Take(2).Select(l => $"'{l.Name}' ({100 * Share(l.Total):F0}%)").ToList();
        var verdict = $"compute-bound: {waiting}" + (top.Count > 0 ? $"; most time goes to {string.Join(" and ", top)}" : "");
        double optimizer = Share(PhaseMean(PhaseNames.Optimizer));
        if (optimizer >= 0.25) verdict += $"; the optimizer takes {100 * optimizer:F0}% of the step: try FusedAdam";
        return (Bottleneck.Compute, verdict);
    }

    /// <summary>The text report.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine($"Profile of {Steps} step{(Steps == 1 ? "" : "s")} ({FirstStep} to {LastStep}): mean step {Ms(MeanStep)}");
        text.AppendLine("Step time: " + string.Join(" - ", Phases.Select(p => $"{p.Name} {100 * Share(p.Duration):F0}%")));
        var top = TopLayers;
        if (top.Count > 0)
        {
            int width = Math.Max(5, top.Max(l => l.Name.Length));
            text.AppendLine("Top layers (mean per step):");
            text.AppendLine($"  {"layer".PadRight(width)}  {"kind",-16} {"forward",10} {"backward",10} {"share",6} {"kept",10}");
            foreach (var l in top.Take(10))
                text.AppendLine($"  {l.Name.PadRight(width)}  {l.Kind,-16} {Ms(l.Forward),10} {Ms(l.Backward),10} {100 * Share(l.Total),5:F0}% {Mb(l.ActivationBytes),10}");
        }
        if (Stages.Count > 0)
            text.AppendLine("Input stages (work per step): " + string.Join(", ", Stages.Select(s =>
                $"{s.Name} {Ms(s.Busy)}{(s.Workers > 0 ? $" on {s.Workers} workers" : "")}")));
        if (PeakHeapBytes is { } peak) text.AppendLine($"Heap: sampled peak {Mb(peak)}");
        text.AppendLine("Verdict: " + Verdict);
        return text.ToString();
    }

    static string Ms(TimeSpan t) => $"{t.TotalMilliseconds:F2} ms";

    static string Mb(long? bytes) => bytes is { } b ? $"{b / 1048576.0:F1} MB" : "-";

    static TimeSpan Mean(IEnumerable<TimeSpan> times)
    {
        var list = times.ToList();
        return list.Count == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(list.Sum(t => t.Ticks) / list.Count);
    }
}
