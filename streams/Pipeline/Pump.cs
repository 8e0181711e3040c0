using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Functional.Streams;

/// <summary>
/// Runs an upstream on its own thread into a bounded buffer: the thread blocks when the buffer
/// is full (back-pressure), the consumer blocks when it is empty. An upstream failure is
/// rethrown to the consumer after the elements produced before it. Disposing cancels the
/// upstream run (through a linked token, so stages further up stop too), joins the thread and
/// releases what is still buffered.
/// </summary>
internal sealed class Pump<T> : IDisposable
{
    readonly BlockingCollection<Sourced<T>> buffer;
    readonly CancellationTokenSource cancel;
    readonly Thread worker;
    readonly StageStats? stats;
    readonly Action<T> release;
    ExceptionDispatchInfo? failure;

    /// <param name="upstream">The elements to pump, for a run that this pump can cancel.</param>
    /// <param name="run">The consumer's run (its epoch and token).</param>
    /// <param name="capacity">Elements buffered at most.</param>
    /// <param name="stats">Where the thread's time blocked on a full buffer goes (waiting downstream).</param>
    /// <param name="name">Names the thread.</param>
    /// <param name="release">Releases an element nobody will take (default: <see cref="Ownership.Release{T}"/>).</param>
    public Pump(Func<StreamRun, IEnumerable<Sourced<T>>> upstream, StreamRun run, int capacity, StageStats? stats, string name,
        Action<T>? release = null)
    {
        this.release = release ?? Ownership.Release;
        buffer = new BlockingCollection<Sourced<T>>(new ConcurrentQueue<Sourced<T>>(), capacity);
        cancel = CancellationTokenSource.CreateLinkedTokenSource(run.Token);
        this.stats = stats;
        var inner = run.Part(run.Epoch, cancel.Token);
        worker = new Thread(() => Work(upstream(inner))) { IsBackground = true, Name = $"Functional.Streams {name}" };
        worker.Start();
    }

    void Work(IEnumerable<Sourced<T>> items)
    {
        try
        {
            foreach (var item in items)
            {
                if (buffer.TryAdd(item)) continue;
                long start = Stopwatch.GetTimestamp();
                try { buffer.Add(item, cancel.Token); }
                catch (OperationCanceledException)
                {
                    release(item.Value);
                    throw;
                }
                stats?.AddWaitingDownstream(Stopwatch.GetTimestamp() - start);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested) { }
        catch (Exception e) { failure = ExceptionDispatchInfo.Capture(e); }
        finally { buffer.CompleteAdding(); }
    }

    /// <summary>
    /// The next element, waiting at most <paramref name="timeout"/> (infinite: -1 ms); false
    /// with <paramref name="finished"/> set when the upstream has ended. Rethrows an upstream failure.
    /// </summary>
    public bool TryTake(out Sourced<T> item, TimeSpan timeout, CancellationToken token, out bool finished)
    {
        long start = Stopwatch.GetTimestamp();
        bool taken;
        try { taken = buffer.TryTake(out item, (int)timeout.TotalMilliseconds, token); }
        finally { stats?.AddWaitingUpstream(Stopwatch.GetTimestamp() - start); }
        finished = !taken && buffer.IsCompleted;
        if (finished) failure?.Throw();
        return taken;
    }

    /// <summary>Every element, in order, as the consumer takes them.</summary>
    public IEnumerable<Sourced<T>> Drain(CancellationToken token)
    {
        while (true)
        {
            if (TryTake(out var item, Timeout.InfiniteTimeSpan, token, out bool finished)) yield return item;
            else if (finished) yield break;
        }
    }

    public void Dispose()
    {
        cancel.Cancel();
        worker.Join();
        while (buffer.TryTake(out var left)) release(left.Value);
        buffer.Dispose();
        cancel.Dispose();
    }
}
