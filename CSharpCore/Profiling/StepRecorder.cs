using System.Diagnostics;
using Functional.Diagnostics;
using Functional.Layers;
using Functional.Training;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Profiling;

/// <summary>
/// Records one profiled step: the phases the driver names, each layer call's forward span (timed
/// around its Apply) and backward span (from the markers <see cref="LayerCall"/> puts into the
/// autograd graph by <see cref="LayerMarker"/>), and heap samples taken at every one of those
/// points. While a step records, it observes the layer calls of the thread that runs it
/// (<see cref="LayerCall.Observer"/>); a step that records nothing costs one thread-static read
/// per layer call.
/// </summary>
sealed class StepRecorder : ILayerCallObserver, IStepRecording
{
    readonly bool sampleMemory;
    readonly List<PhaseSpan> phases = [];
    readonly List<LayerCallRecord> calls = [];
    readonly List<(long At, long Bytes)> heap = [];
    readonly List<Tensor> handedToLibtorch = [];
    readonly Stack<string> paths = new();
    readonly object gate = new();
    ILayerCallObserver? previous;
    long markerBytes;
    bool finished;

    public StepRecorder(long step, bool sampleMemory, IReadOnlyList<StageCounters> stagesAtStart)
    {
        (Step, this.sampleMemory, StagesAtStart) = (step, sampleMemory, stagesAtStart);
        // The step begins after the first heap reading, which can take a millisecond on a
        // fragmented heap: the profiler's own work is no part of the step it measures.
        SampleHeap(Stopwatch.GetTimestamp());
        Started = DateTimeOffset.UtcNow;
        Origin = Stopwatch.GetTimestamp();
    }

    public long Step { get; }
    public long Origin { get; }
    public DateTimeOffset Started { get; }
    public IReadOnlyList<StageCounters> StagesAtStart { get; }

    /// <summary>Makes this the observer of the calling thread's layer calls until <see cref="Deactivate"/>.</summary>
    public void Activate()
    {
        previous = LayerCall.Observer;
        LayerCall.Observer = this;
    }

    /// <summary>Stops observing, on the thread that activated it. A step ended on another thread
    /// (after an await) is let go by its own thread at that thread's next layer call.</summary>
    public void Deactivate()
    {
        if (ReferenceEquals(LayerCall.Observer, this)) LayerCall.Observer = previous;
    }

    /// <summary>Bytes a marker made libtorch keep until the graph is freed (see <see cref="LayerMarker.Wrap"/>).</summary>
    public void MarkerHeld(long bytes) => Interlocked.Add(ref markerBytes, bytes);

    /// <summary>Whether the step has ended: it then observes nothing, and lets its thread go.</summary>
    bool Stale()
    {
        if (!Volatile.Read(ref finished)) return false;
        Deactivate();
        return true;
    }

    /// <summary>Times the call and brackets it with markers: on its input (its backward ends
    /// when that gradient is made) and on its output (its backward begins when that one arrives).</summary>
    public (Tensor Output, TensorTree State) Call(ILayer layer, string? name, Tensor input, Func<Tensor, (Tensor Output, TensorTree State)> apply)
    {
        if (Stale()) return apply(input);
        string path = name is null ? "" : ChildPath(name);
        int index = BeginCall(path, NetworkWalk.Label(layer, path), LayerRegistry.KindOf(layer), layer is ICompositeLayer);
        (Tensor Output, TensorTree State) result;
        try
        {
            result = apply(LayerMarker.Wrap(this, index, begins: false, input));
        }
        finally
        {
            EndCall(index);
        }
        return (LayerMarker.Wrap(this, index, begins: true, result.Output), result.State);
    }

    /// <summary>The loss, recorded as a call named "loss" at the top.</summary>
    public (Tensor Total, Tensor[] PerOutput) Loss(Tensor[] outputs, Func<Tensor[], (Tensor Total, Tensor[] PerOutput)> loss)
    {
        if (Stale()) return loss(outputs);
        int index = BeginCall("loss", "loss", "loss", composite: false);
        (Tensor Total, Tensor[] PerOutput) value;
        try
        {
            value = loss([.. outputs.Select(o => LayerMarker.Wrap(this, index, begins: false, o))]);
        }
        finally
        {
            EndCall(index);
        }
        return (LayerMarker.Wrap(this, index, begins: true, value.Total), value.PerOutput);
    }

    /// <summary>A phase of the step (input, forward, backward, optimizer, callbacks, other, or a
    /// name of the caller's), between two timestamps.</summary>
    public void Phase(string name, long start, long end)
    {
        lock (gate) phases.Add(new PhaseSpan(name, start, end));
        SampleHeap(end, required: false);
    }

    /// <summary>The path of a child called <paramref name="name"/> of the call running now.</summary>
    string ChildPath(string name) => paths.Count == 0 || paths.Peek().Length == 0 ? name : paths.Peek() + "/" + name;

    /// <summary>Starts a layer call at <paramref name="path"/>; its index.</summary>
    int BeginCall(string path, string label, string kind, bool composite)
    {
        long now = Stopwatch.GetTimestamp();
        int index;
        lock (gate)
        {
            index = calls.Count;
            calls.Add(new LayerCallRecord(label, kind, paths.Count, composite) { ForwardStart = now, HeapBefore = SampleHeap(now) });
        }
        paths.Push(path);
        return index;
    }

    void EndCall(int index)
    {
        paths.Pop();
        long now = Stopwatch.GetTimestamp();
        var heapAfter = SampleHeap(now);
        lock (gate)
        {
            calls[index].ForwardEnd = now;
            calls[index].HeapAfter = heapAfter;
        }
    }

    /// <summary>Called from inside libtorch's reverse pass: the gradient of call
    /// <paramref name="index"/>'s output arrived (its backward begins), or that of its input was
    /// made (its backward ends).</summary>
    public void BackwardBoundary(int index, bool begins, Tensor handedBack)
    {
        long now = Stopwatch.GetTimestamp();
        SampleHeap(now, required: false);
        lock (gate)
        {
            if (finished) return;   // a pass after the step ended (a custom loop's late backward)
            var call = calls[index];
            if (begins) call.BackwardStart = call.BackwardStart is { } s ? Math.Min(s, now) : now;
            else call.BackwardEnd = call.BackwardEnd is { } e ? Math.Max(e, now) : now;
            handedToLibtorch.Add(handedBack);
        }
    }

    /// <summary>
    /// Reads the heap at <paramref name="at"/>. A reading walks glibc's free lists (tens of
    /// microseconds on a busy heap), so only the readings a layer's forward needs (its start and
    /// end) are always taken; the others (phases, backward boundaries: for the peak) are taken
    /// while readings have cost at most 1/<see cref="SampleBudget"/> of the time since the last.
    /// </summary>
    long? SampleHeap(long at, bool required = true)
    {
        if (!sampleMemory) return null;
        if (!required && at - Volatile.Read(ref lastSampleEnd) < SampleBudget * Volatile.Read(ref lastSampleCost)) return null;
        long begin = Stopwatch.GetTimestamp();
        if (NativeHeap.InUseBytes() is not { } inUse) return null;
        long end = Stopwatch.GetTimestamp();
        Volatile.Write(ref lastSampleEnd, end);
        Volatile.Write(ref lastSampleCost, end - begin);
        long bytes = Math.Max(0, inUse - Interlocked.Read(ref markerBytes));
        lock (gate) heap.Add((at, bytes));
        return bytes;
    }

    const int SampleBudget = 20;
    long lastSampleEnd, lastSampleCost;

    /// <summary>Ends the step: what it recorded, with the counters of the stages now.</summary>
    public StepProfile Finish(IReadOnlyList<StageCounters> stagesAtEnd)
    {
        long end = Stopwatch.GetTimestamp();
        lock (gate)
        {
            finished = true;
            foreach (var t in handedToLibtorch) t.Dispose();   // libtorch copied them when backward returned
            handedToLibtorch.Clear();
            return StepProfile.From(this, end, phases, calls, heap, stagesAtEnd);
        }
    }
}

/// <summary>A named interval of a step, in Stopwatch timestamps.</summary>
readonly record struct PhaseSpan(string Name, long Start, long End);

/// <summary>One layer call as it was recorded, in Stopwatch timestamps.</summary>
sealed class LayerCallRecord(string label, string kind, int depth, bool composite)
{
    public string Label { get; } = label;
    public string Kind { get; } = kind;
    public int Depth { get; } = depth;
    public bool Composite { get; } = composite;
    public long ForwardStart { get; set; }
    public long ForwardEnd { get; set; }
    public long? BackwardStart { get; set; }
    public long? BackwardEnd { get; set; }
    public long? HeapBefore { get; set; }
    public long? HeapAfter { get; set; }
}
