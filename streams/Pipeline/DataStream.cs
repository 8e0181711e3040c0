using System.Diagnostics;

namespace Functional.Streams;

/// <summary>
/// A data pipeline: a cold, replayable sequence of elements built from a source and operators
/// (see <see cref="DataStream"/> for sources). Every operator returns a new stream and leaves this
/// one as it was, so a stream is a description that can be run many times (once per epoch).
/// <para>
/// Inside, stages pull from the stage before them, so a file source reads only as fast as the
/// consumer takes elements and memory stays bounded by the buffers the pipeline declares
/// (shuffle, prefetch, parallel map). Rx's <see cref="IObservable{T}"/> has no such back-pressure,
/// so it is the stream's edge: every stream is an observable (subscribing runs it on a
/// background thread), and any observable becomes a stream through
/// <see cref="DataStream.FromObservable{T}"/>, with an explicit
/// policy for when the consumer falls behind.
/// </para>
/// <para>
/// Ownership: each element belongs to whoever receives it. The consumer disposes record batches
/// and tensors it takes; rows (<see cref="Tables.Row"/>) are views released by the stage that
/// consumes them. Stages that drop elements release them. Disposing a stream releases what its
/// stages hold across runs (a <see cref="Cache"/>'s elements), upstream stages included; a
/// disposed stream cannot run again.
/// </para>
/// <para>
/// Counters belong to a run: <see cref="Stats"/> and <see cref="Stages"/> are those of the
/// stream's latest run (or the one in progress).
/// </para>
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
[DebuggerDisplay("DataStream {Name}")]
public sealed partial class DataStream<T> : IObservable<T>, IStage, IDisposable
{
    readonly Func<StreamRun, StageStats, IEnumerable<Sourced<T>>> produce;
    readonly IStage[] upstream;
    /// <summary>Releases what this stage holds across runs (a cache), or null.</summary>
    Action? release;
    volatile StreamRun? latest;
    volatile bool disposed;

    /// <param name="name">The stage's name in counters and errors.</param>
    /// <param name="produce">The stage's elements for one run, given the stage's own counters:
    /// it passes them as the consumer when it reads its upstream on its own thread
    /// (<see cref="Run"/>), or records its own waits when it reads on other threads.</param>
    /// <param name="upstream">The streams it reads from.</param>
    internal DataStream(string name, Func<StreamRun, StageStats, IEnumerable<Sourced<T>>> produce, params IStage[] upstream)
    {
        (this.produce, this.upstream, Name) = (produce, upstream, name);
    }

    /// <summary>The stage's name in counters and errors, e.g. "shuffle(10000)".</summary>
    public string Name { get; }

    /// <summary>Whether this stage is a live (hot) source, which printing the stream does not read.</summary>
    public bool IsLive { get; internal init; }

    /// <summary>This stage's counters in the stream's latest run (zeros before the first).</summary>
    public StageStats Stats => latest?.StatsOf(this) ?? new StageStats(Name);

    /// <summary>Every stage of the pipeline, sources first, this stage last, with their counters
    /// in this stream's latest run (zeros before the first).</summary>
    public IReadOnlyList<StageStats> Stages
    {
        get
        {
            var seen = new List<IStage>();
            ((IStage)this).Collect(seen);
            var run = latest;
            return [.. seen.Select(stage => run?.StatsOf(stage) ?? new StageStats(stage.Name))];
        }
    }

    /// <summary>
    /// The stream's type, its stages (this one first) and its first elements (up to three) as
    /// <see cref="ElementText"/> writes them: "DataStream&lt;(Tensor, Tensor)&gt;: take(1) &lt;- map
    /// &lt;- values", then "(float32 [3] [0.5, 1, 2], int64 [] 7)". Reading the first elements runs
    /// the stream for at most <see cref="PreviewTime"/> (live sources are not read); what it read
    /// is released, and the counters keep the previous run's values.
    /// </summary>
    public override string ToString()
    {
        var text = new System.Text.StringBuilder($"DataStream<{ElementText.TypeName(typeof(T))}>: {string.Join(" <- ", Stages.Reverse().Select(s => s.Name))}");
        var (first, note) = Preview(4);
        foreach (var element in first.Take(3)) text.Append("\n  ").Append(element);
        if (first.Count > 3) text.Append("\n  ...");
        if (note is not null) text.Append("\n  (").Append(note).Append(')');
        else if (first.Count == 0) text.Append("\n  (no elements)");
        return text.ToString();
    }

    /// <summary>How long printing a stream (<see cref="ToString"/>, <see cref="Describe"/>) reads it for its first elements.</summary>
    public static TimeSpan PreviewTime { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The element type, the first element (for record batches and rows, with each column's type
    /// and first values) and every stage's counters in the latest run. Reading the first element
    /// runs the stream as <see cref="ToString"/> does; the counters are those of the run before.
    /// </summary>
    public StreamDescription Describe()
    {
        var stages = Stages.Select(s => s.Snapshot()).ToArray();
        var (first, note) = Preview(1);
        return new StreamDescription(ElementText.TypeName(typeof(T)), first.FirstOrDefault() ?? (note is null ? null : $"({note})"), stages, latest is not null);
    }

    /// <summary>The first <paramref name="count"/> elements as text, from a preview run (its
    /// counters are not reported) cancelled after <see cref="PreviewTime"/>; the elements are
    /// released. The note says why fewer were read, when it was not the stream's end.</summary>
    (List<string> Shown, string? Note) Preview(int count)
    {
        var shown = new List<string>();
        var stages = new List<IStage>();
        ((IStage)this).Collect(stages);
        if (stages.Any(s => s.IsLive)) return (shown, "a live source: not read to print it");
        using var timeout = new CancellationTokenSource(PreviewTime);
        try
        {
            foreach (var item in Run(new StreamRun(0, timeout.Token, preview: true)))
            {
                shown.Add(ElementText.Of(item.Value));
                Ownership<T>.Release(item.Value);
                if (shown.Count == count) break;
            }
            return (shown, null);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return (shown, $"no more elements within {PreviewTime.TotalSeconds:0.#} s");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return (shown, $"reading it failed: {e.Message}");
        }
    }

    /// <summary>Releases what the pipeline's stages hold across runs (cached elements); the
    /// stream, and streams made from it, cannot run afterwards.</summary>
    public void Dispose() => ((IStage)this).Release();

    /// <summary>Sets what disposing releases (for stages that keep elements across runs).</summary>
    internal DataStream<T> ReleasingOnDispose(Action releaseHeld)
    {
        release = releaseHeld;
        return this;
    }

    /// <summary>The elements of one run; <paramref name="epoch"/> seeds per-epoch shuffles. Each element belongs to the caller.</summary>
    public IEnumerable<T> Enumerate(int epoch = 0, CancellationToken cancellation = default)
    {
        foreach (var item in Run(new StreamRun(epoch, cancellation))) yield return item.Value;
    }

    /// <summary>The elements of one run, in a list.</summary>
    public List<T> ToList(int epoch = 0) => Enumerate(epoch).ToList();

    /// <summary>
    /// Runs the stream on a background thread and pushes its elements to <paramref name="observer"/>;
    /// disposing the subscription cancels the run and releases what its stages hold. The thread
    /// waits while the observer's OnNext runs, so a synchronous observer still paces the stream.
    /// </summary>
    public IDisposable Subscribe(IObserver<T> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        var cancel = new CancellationTokenSource();
        var pump = Task.Factory.StartNew(() =>
        {
            try
            {
                foreach (var item in Enumerate(0, cancel.Token)) observer.OnNext(item);
                observer.OnCompleted();
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested) { }
            catch (Exception e) { observer.OnError(e); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        return new Subscription(cancel, pump);
    }

    /// <summary>
    /// One run with its counters: what operators read from the stage before them. Time spent
    /// here is also <paramref name="consumer"/>'s time waiting upstream (when it reads on this thread).
    /// </summary>
    internal IEnumerable<Sourced<T>> Run(StreamRun run, StageStats? consumer = null)
    {
        if (disposed) throw new ObjectDisposedException(Name, $"The stream stage '{Name}' was disposed (with a stream made from it); make the stream again.");
        run.Token.ThrowIfCancellationRequested();
        if (!run.IsPreview) latest = run;
        var stats = run.StatsOf(this);
        using var inner = produce(run, stats).GetEnumerator();
        long returned = 0;
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            if (returned != 0) stats.AddWaitingDownstream(start - returned);
            bool more;
            try { more = inner.MoveNext(); }
            finally
            {
                long spent = Stopwatch.GetTimestamp() - start;
                stats.AddInclusive(spent);
                consumer?.AddWaitingUpstream(spent);
            }
            if (!more) yield break;
            var item = inner.Current;
            stats.Produced(Ownership<T>.Bytes(item.Value));
            returned = Stopwatch.GetTimestamp();
            yield return item;
        }
    }

    /// <summary>A new stage reading from this one on the same thread.</summary>
    internal DataStream<U> Then<U>(string name, Func<IEnumerable<Sourced<T>>, StreamRun, IEnumerable<Sourced<U>>> stage) =>
        new(name, (run, stats) => stage(Run(run, stats), run), this);

    /// <summary>A new stage that reads this one on other threads (<see cref="Run"/> without a consumer) and records its own waits.</summary>
    internal DataStream<U> ThenDecoupled<U>(string name, Func<StreamRun, StageStats, IEnumerable<Sourced<U>>> stage) =>
        new(name, stage, this);

    void IStage.Collect(List<IStage> into)
    {
        foreach (var parent in upstream) parent.Collect(into);
        if (!into.Contains(this)) into.Add(this);
    }

    void IStage.Release()
    {
        if (disposed) return;
        disposed = true;
        release?.Invoke();
        foreach (var parent in upstream) parent.Release();
    }

    sealed class Subscription(CancellationTokenSource cancel, Task pump) : IDisposable
    {
        public void Dispose()
        {
            cancel.Cancel();
            // The pump leaves at the next element; the stages release their buffers on the way out.
            pump.ContinueWith(_ => cancel.Dispose(), TaskScheduler.Default);
        }
    }
}

/// <summary>A stage as the counters see it.</summary>
internal interface IStage
{
    string Name { get; }
    bool IsLive { get; }
    void Collect(List<IStage> into);
    void Release();
}
