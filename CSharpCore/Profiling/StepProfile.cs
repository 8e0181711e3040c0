using System.Diagnostics;
using Functional.Training;

namespace Functional.Profiling;

/// <summary>
/// What one profiled step did: where its time went by phase (input, forward, backward,
/// optimizer, callbacks, other) and by layer call, the heap it used, and what each input stage
/// did meanwhile.
/// </summary>
public sealed class StepProfile
{
    StepProfile(long step, DateTimeOffset started, TimeSpan duration, IReadOnlyList<PhaseProfile> phases, IReadOnlyList<LayerProfile> layers,
        long? heapAtStart, long? peakHeap, IReadOnlyList<StageProfile> stages, IReadOnlyList<TraceSpan> spans, IReadOnlyList<(TimeSpan At, long Bytes)> heap)
    {
        (Step, Started, Duration, Phases, Layers, HeapAtStartBytes, PeakHeapBytes, Stages, Spans, Heap) =
            (step, started, duration, phases, layers, heapAtStart, peakHeap, stages, spans, heap);
    }

    /// <summary>The step's number, counted from 0 at the first step the profiler saw.</summary>
    public long Step { get; }
    /// <summary>When it began.</summary>
    public DateTimeOffset Started { get; }
    /// <summary>Its wall time, input wait included.</summary>
    public TimeSpan Duration { get; }
    /// <summary>Its phases in order; in Fit they follow each other and fill the step.</summary>
    public IReadOnlyList<PhaseProfile> Phases { get; }
    /// <summary>Every layer call in the order it began (the network itself first, at depth 0;
    /// then its children at depth 1, and so on; the loss is a call named "loss" at depth 0).</summary>
    public IReadOnlyList<LayerProfile> Layers { get; }
    /// <summary>Bytes in use on the native heap when the step began (null where it cannot be read).</summary>
    public long? HeapAtStartBytes { get; }
    /// <summary>The most bytes in use at any sampling point of the step: a sampled peak, so a
    /// lower bound of the true one.</summary>
    public long? PeakHeapBytes { get; }
    /// <summary>What each input stage did during the step.</summary>
    public IReadOnlyList<StageProfile> Stages { get; }

    /// <summary>The time of the phase called <paramref name="name"/> (zero when it did not run).</summary>
    public TimeSpan Phase(string name) => Phases.Where(p => p.Name == name).Aggregate(TimeSpan.Zero, (sum, p) => sum + p.Duration);

    /// <summary>Share of the step spent waiting for input (the "input" phase), in [0, 1].</summary>
    public double InputWaitShare => Duration > TimeSpan.Zero ? Phase(PhaseNames.Input) / Duration : 0;

    /// <summary>Spans for the trace, relative to <see cref="Started"/>.</summary>
    internal IReadOnlyList<TraceSpan> Spans { get; }
    /// <summary>Heap samples, relative to <see cref="Started"/>.</summary>
    internal IReadOnlyList<(TimeSpan At, long Bytes)> Heap { get; }

    internal static StepProfile From(StepRecorder recorder, long end, IReadOnlyList<PhaseSpan> phases, IReadOnlyList<LayerCallRecord> calls,
        IReadOnlyList<(long At, long Bytes)> heap, IReadOnlyList<StageCounters> stagesAtEnd)
    {
        long origin = recorder.Origin;
        TimeSpan At(long timestamp) => Stopwatch.GetElapsedTime(origin, timestamp);
        // Backward of a call whose input needs no gradient (the first layer) ends with the pass.
        long backwardEnd = phases.Where(p => p.Name == PhaseNames.Backward).Select(p => p.End).DefaultIfEmpty(
            calls.SelectMany(c => new[] { c.BackwardStart, c.BackwardEnd }).Max() ?? 0).Max();
        var spans = new List<TraceSpan>();
        spans.AddRange(phases.Select(p => new TraceSpan(p.Name, "phase", At(p.Start), At(p.End), 0, null)));
        var layers = new List<LayerProfile>(calls.Count);
        foreach (var c in calls)
        {
            var backward = TimeSpan.Zero;
            spans.Add(new TraceSpan(c.Label, "forward", At(c.ForwardStart), At(c.ForwardEnd), c.Depth, c.Kind));
            if (c.BackwardStart is { } b)
            {
                long e = c.BackwardEnd ?? Math.Max(backwardEnd, b);
                backward = Stopwatch.GetElapsedTime(b, e);
                spans.Add(new TraceSpan(c.Label, "backward", At(b), At(e), c.Depth, c.Kind));
            }
            layers.Add(new LayerProfile(c.Label, c.Kind, c.Depth, c.Composite, Stopwatch.GetElapsedTime(c.ForwardStart, c.ForwardEnd), backward,
                c.HeapBefore is { } before && c.HeapAfter is { } after ? after - before : null));
        }
        var stages = stagesAtEnd.Select(s => recorder.StagesAtStart.FirstOrDefault(b => b.Name == s.Name) is { } b
            ? new StageProfile(s.Name, s.Busy - b.Busy, s.WaitingUpstream - b.WaitingUpstream, s.Elements - b.Elements, s.Workers)
            : new StageProfile(s.Name, s.Busy, s.WaitingUpstream, s.Elements, s.Workers)).ToList();
        return new StepProfile(recorder.Step, recorder.Started, Stopwatch.GetElapsedTime(origin, end),
            [.. phases.Select(p => new PhaseProfile(p.Name, Stopwatch.GetElapsedTime(p.Start, p.End)))], layers,
            heap.Count > 0 ? heap[0].Bytes : null, heap.Count > 0 ? heap.Max(h => h.Bytes) : null, stages, spans,
            [.. heap.Select(h => (At(Math.Max(h.At, origin)), h.Bytes))])
        { Origin = origin };
    }

    /// <summary>The Stopwatch timestamp the step began at (to lay steps out on one time line).</summary>
    internal long Origin { get; private init; }
}

/// <summary>One phase of a step and its time.</summary>
public sealed record PhaseProfile(string Name, TimeSpan Duration);

/// <summary>One layer call of a step.</summary>
/// <param name="Name">Its path in the network ("conv_1", "encoder/dense"), the network's name at
/// depth 0, "loss" for the loss; a shared layer's later calls end in "_call2", ...</param>
/// <param name="Kind">The layer's kind ("dense", "conv2d", "sequential", "loss").</param>
/// <param name="Depth">0 for the network and the loss, 1 for its children, ...</param>
/// <param name="Composite">Whether it is made of other calls (its times include theirs).</param>
/// <param name="Forward">Time in its Apply.</param>
/// <param name="Backward">Time from its output gradient's arrival to its input gradient (to the
/// end of the pass when its input needs none); zero when no gradient flowed through it.</param>
/// <param name="ActivationBytes">Heap growth across its forward call: what it keeps for the
/// backward pass and its output (null where the heap cannot be read).</param>
public sealed record LayerProfile(string Name, string Kind, int Depth, bool Composite, TimeSpan Forward, TimeSpan Backward, long? ActivationBytes)
{
    /// <summary>Forward and backward.</summary>
    public TimeSpan Total => Forward + Backward;
}

/// <summary>What one input stage did during a step (differences of its counters).</summary>
public sealed record StageProfile(string Name, TimeSpan Busy, TimeSpan WaitingUpstream, long Elements, int Workers);

/// <summary>A span of the trace, relative to the step's start.</summary>
readonly record struct TraceSpan(string Name, string Category, TimeSpan Start, TimeSpan End, int Depth, string? Kind);
