using Functional.Layers;
using Functional.Training;

namespace Functional.Profiling;

/// <summary>
/// Records chosen training steps in detail: each phase (input wait, forward, backward,
/// optimizer, callbacks), each layer call's forward and backward time, samples of the native heap
/// (a sampled peak per step, and what each layer's forward call kept), and what each input stage
/// did meanwhile. Add it to <see cref="FitOptions.Callbacks"/>, or wrap the steps of a custom
/// loop in <see cref="Step"/>. Read the result as a <see cref="Report"/> (top layers, input-wait
/// share, a verdict with advice), a Chrome trace (<see cref="WriteTrace"/>: Perfetto,
/// chrome://tracing) or TensorBoard run metadata (<see cref="WriteTensorBoard"/>: the Graphs
/// dashboard colours each layer by its time). Steps outside the chosen range cost nothing
/// measurable.
/// </summary>
/// <remarks>Steps are numbered from 0 at the first step this profiler sees; the first steps of
/// a run are slower (allocator and thread-pool warm-up), which is why recording starts at
/// step 5 by default. Layer timing needs the network's containers (Sequential, functional
/// models) to call their children; a custom layer's insides are one call. Layer markers are
/// identities in the autograd graph: gradients are unchanged.</remarks>
public sealed class Profiler : Callback, IStepProfiler
{
    /// <inheritdoc/>
    public override bool WritesOutput => true;

    readonly List<StepProfile> recorded = [];
    long seen;
    IStageCounters? stages;
    ILayer? network;
    IReadOnlyList<long[]>? inputShapes;

    /// <summary>Records steps <paramref name="firstStep"/> to <paramref name="firstStep"/> +
    /// <paramref name="steps"/> - 1 (0 steps: records nothing); with <paramref name="logDir"/>,
    /// Fit writes the results there when training ends (see <see cref="Save"/>).</summary>
    /// <param name="firstStep">The first step to record (0-based).</param>
    /// <param name="steps">How many steps to record.</param>
    /// <param name="logDir">Where Fit saves the trace, the report and the TensorBoard run metadata; null: nowhere.</param>
    /// <param name="sampleMemory">Sample the native heap (glibc's mallinfo2, which walks the heap's
    /// free lists: from a few to about a hundred microseconds on a fragmented heap, most of the
    /// profiler's cost) at every layer call's start and end, and within a budget at backward
    /// boundaries and phase ends; false leaves the heap out.</param>
    public Profiler(int firstStep = 5, int steps = 5, string? logDir = null, bool sampleMemory = true)
    {
        FirstStep = firstStep >= 0 ? firstStep : throw new ArgumentOutOfRangeException(nameof(firstStep), firstStep, "The first step to record is 0 or later.");
        StepCount = steps >= 0 ? steps : throw new ArgumentOutOfRangeException(nameof(steps), steps, "The number of steps to record is 0 or more.");
        (LogDir, SampleMemory) = (logDir, sampleMemory);
    }

    /// <summary>The first step recorded.</summary>
    public int FirstStep { get; }
    /// <summary>How many steps are recorded.</summary>
    public int StepCount { get; }
    /// <summary>Where Fit saves the results, or null.</summary>
    public string? LogDir { get; }
    /// <summary>Whether the heap is sampled.</summary>
    public bool SampleMemory { get; }

    /// <summary>The steps recorded so far, in order.</summary>
    public IReadOnlyList<StepProfile> Recorded
    {
        get
        {
            lock (recorded) return [.. recorded];
        }
    }

    /// <summary>Reads these input stages at each recorded step (Fit does it for a batch source
    /// that has stages, such as a stream's).</summary>
    public void Watch(IStageCounters source) => stages = source ?? throw new ArgumentNullException(nameof(source));

    void IStepProfiler.Watch(IStageCounters? source) => stages = source;

    /// <summary>
    /// Begins the next step of a custom loop; dispose it when the step is done, on the thread
    /// that began it. While it records, layer calls made on this thread are timed, and
    /// <see cref="ProfilerStep.Phase"/> marks phases (name the input wait
    /// <see cref="PhaseNames.Input"/> for the report to count it).
    /// </summary>
    public ProfilerStep Step() => new(this, BeginStep());

    /// <summary>A summary of the recorded steps with a verdict.</summary>
    /// <exception cref="InvalidOperationException">No step was recorded.</exception>
    public ProfileReport Report() => new(RequireRecorded());

    /// <summary>Writes the recorded steps as Chrome trace-event JSON (open it in Perfetto or chrome://tracing).</summary>
    public void WriteTrace(string path) => ChromeTrace.Write(path, RequireRecorded());

    /// <summary>Writes the network's graph and each recorded step's per-layer statistics
    /// (RunMetadata, tagged "step_N") into the TensorBoard run at <paramref name="runDir"/>.</summary>
    public void WriteTensorBoard(string runDir, ILayer network, IReadOnlyList<long[]> inputShapes) =>
        ProfileRunMetadata.Write(runDir, network, inputShapes, RequireRecorded());

    /// <summary>Saves everything under <paramref name="logDir"/>: <c>profile/trace.json</c>,
    /// <c>profile/report.txt</c>, and (when the network is known: after Fit, or given here) the
    /// run metadata in the TensorBoard run <c>train</c>, beside what TensorBoardLogger writes.</summary>
    public void Save(string logDir, ILayer? network = null, IReadOnlyList<long[]>? inputShapes = null)
    {
        ArgumentNullException.ThrowIfNull(logDir);
        var steps = RequireRecorded();
        var folder = Path.Combine(logDir, "profile");
        Directory.CreateDirectory(folder);
        ChromeTrace.Write(Path.Combine(folder, "trace.json"), steps);
        var report = System.Text.Encoding.UTF8.GetBytes(new ProfileReport(steps).ToString());
        Persistence.AtomicFile.Write(Path.Combine(folder, "report.txt"), stream => stream.Write(report));
        if ((network ?? this.network) is { } n && (inputShapes ?? this.inputShapes) is { } shapes)
            ProfileRunMetadata.Write(Path.Combine(logDir, "train"), n, shapes, steps);
    }

    IReadOnlyList<StepProfile> RequireRecorded()
    {
        var steps = Recorded;
        return steps.Count > 0 ? steps
            : throw new InvalidOperationException(
                $"The profiler has recorded no step: it records steps {FirstStep} to {FirstStep + StepCount - 1} and has seen {Interlocked.Read(ref seen)}.");
    }

    /// <inheritdoc/>
    public override void OnTrainBegin(TrainingContext context) => (network, inputShapes) = (context.Model.Network, context.Model.InputShapes);

    /// <inheritdoc/>
    public override void OnTrainEnd(TrainingContext context)
    {
        if (LogDir is not null && Recorded.Count > 0) Save(LogDir);
    }

    IStepRecording? IStepProfiler.BeginStep() => BeginStep();

    void IStepProfiler.EndStep(IStepRecording? recording) => EndStep((StepRecorder?)recording);

    void IStepProfiler.Abandon(IStepRecording? recording) => Abandon((StepRecorder?)recording);

    /// <summary>A recorder for the step about to begin, active on this thread, or null when
    /// this step is not recorded.</summary>
    StepRecorder? BeginStep()
    {
        long next = Interlocked.Read(ref seen);
        if (next < FirstStep || next >= (long)FirstStep + StepCount) return null;
        LayerMarker.WarmUp(SampleMemory);
        var recorder = new StepRecorder(next, SampleMemory, stages?.ReadStages() ?? []);
        recorder.Activate();
        return recorder;
    }

    /// <summary>The step ended: counts it, and keeps what <paramref name="recorder"/> recorded.</summary>
    internal void EndStep(StepRecorder? recorder)
    {
        Interlocked.Increment(ref seen);
        if (recorder is null) return;
        recorder.Deactivate();
        var profile = recorder.Finish(stages?.ReadStages() ?? []);
        lock (recorded) recorded.Add(profile);
    }

    /// <summary>The step did not happen (the data ran out) or failed: nothing is kept.</summary>
    static void Abandon(StepRecorder? recorder)
    {
        if (recorder is null) return;
        recorder.Deactivate();
        recorder.Finish([]);
    }
}

/// <summary>One step of a custom loop under a <see cref="Profiler"/> (see <see cref="Profiler.Step"/>).</summary>
public sealed class ProfilerStep : IDisposable
{
    readonly Profiler profiler;
    readonly StepRecorder? recorder;
    bool ended;

    internal ProfilerStep(Profiler profiler, StepRecorder? recorder) => (this.profiler, this.recorder) = (profiler, recorder);

    /// <summary>Whether this step is recorded.</summary>
    public bool Recording => recorder is not null;

    /// <summary>Marks a phase of the step until the returned scope is disposed (a no-op when
    /// the step is not recorded).</summary>
    public IDisposable Phase(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return recorder is null ? NoPhase.Instance : new PhaseScope(recorder, name);
    }

    /// <summary>Ends the step.</summary>
    public void Dispose()
    {
        if (ended) return;
        ended = true;
        profiler.EndStep(recorder);
    }

    sealed class PhaseScope(StepRecorder recorder, string name) : IDisposable
    {
        readonly long start = System.Diagnostics.Stopwatch.GetTimestamp();

        public void Dispose() => recorder.Phase(name, start, System.Diagnostics.Stopwatch.GetTimestamp());
    }

    sealed class NoPhase : IDisposable
    {
        public static NoPhase Instance { get; } = new();

        public void Dispose() { }
    }
}
