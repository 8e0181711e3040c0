using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Functional.Streams.Tables;

namespace Functional.Streams;

public sealed partial class DataStream<T>
{
    /// <summary>
    /// Applies <paramref name="function"/> to every element. With <paramref name="parallelism"/>
    /// above 1 (or <see cref="Parallelism.Auto"/>), that many elements are mapped at once on pool
    /// threads; <paramref name="ordered"/> (the default) keeps the input order, so the result is
    /// the same as the sequential map; unordered passes results on as they finish (faster when
    /// costs vary, not deterministic).
    /// <para>
    /// The function owns its input (return it, or dispose it when it holds native memory), except
    /// rows: a <see cref="Row"/> is lent for the call and released after it. An exception thrown by
    /// the function reaches the consumer as a <see cref="StreamException"/> naming the element's
    /// source and row.
    /// </para>
    /// </summary>
    /// <param name="function">The function.</param>
    /// <param name="parallelism">Elements mapped at once (1: on the consumer's thread;
    /// <see cref="Parallelism.Auto"/>: ordered maps start with one worker and add workers, up to
    /// one per core, while the map is the bottleneck; unordered maps use one per core).</param>
    /// <param name="ordered">Whether results keep the input order.</param>
    /// <param name="name">The stage's name in counters and errors (default "map").</param>
    /// <example><c>images.Map(Decode, parallelism: Parallelism.Auto, name: "decode")</c></example>
    public DataStream<U> Map<U>(Func<T, U> function, int parallelism = 1, bool ordered = true, string name = "map")
    {
        ArgumentNullException.ThrowIfNull(function);
        int degree = Parallelism.Resolve(parallelism, nameof(parallelism));
        if (degree == 1) return Then<U>(name, (input, _) => MapSequential(input, function, name));
        bool tune = parallelism == Parallelism.Auto;
        string stage = $"{name}(parallel {(tune ? $"auto, up to {degree}" : degree)}, {(ordered ? "ordered" : "unordered")})";
        return ordered
            ? ThenDecoupled<U>(stage, (run, stats) => MapOrdered(run, stats, function, degree, tune, name))
            : ThenDecoupled<U>(stage, (run, stats) => MapUnordered(run, stats, function, degree, name));
    }

    static IEnumerable<Sourced<U>> MapSequential<U>(IEnumerable<Sourced<T>> input, Func<T, U> function, string name)
    {
        foreach (var item in input) yield return Apply(function, item, name);
    }

    static Sourced<U> Apply<U>(Func<T, U> function, Sourced<T> item, string stage)
    {
        U result;
        try { result = function(item.Value); }
        catch (Exception e)
        {
            Lend(item.Value, default(U));
            throw StreamException.Wrap(stage, item.Origin, e);
        }
        Lend(item.Value, result);
        return new(result, item.Origin);
    }

    /// <summary>Releases a row that a function borrowed, unless the function returned it.</summary>
    static void Lend<U>(T input, U result)
    {
        if (input is Row row && !(result is Row back && back.Equals(row))) row.Dispose();
    }

    /// <summary>
    /// A reader thread starts one task per element, at most <paramref name="degree"/> running and
    /// twice that many waiting in order; the consumer takes the tasks in input order. When
    /// <paramref name="tune"/>, it starts with one worker and adds one (up to
    /// <paramref name="degree"/>) whenever the consumer found the next result unfinished in at
    /// least half of the last 16 elements: the map, not its source or its consumer, is then the
    /// bottleneck.
    /// </summary>
    IEnumerable<Sourced<U>> MapOrdered<U>(StreamRun run, StageStats stats, Func<T, U> function, int degree, bool tune, string name)
    {
        int workers = tune ? 1 : degree;
        using var gate = new SemaphoreSlim(workers, degree);
        stats.SetWorkers(workers);
        IEnumerable<Sourced<Task<Sourced<U>>>> Started(StreamRun inner)
        {
            foreach (var item in Run(inner))
            {
                try { gate.Wait(inner.Token); }
                catch (OperationCanceledException)
                {
                    Ownership.Release(item.Value);
                    throw;
                }
                var task = Task.Run(() =>
                {
                    try { return Apply(function, item, name); }
                    finally { gate.Release(); }
                });
                yield return new(task, item.Origin);
            }
        }
        using var pump = new Pump<Task<Sourced<U>>>(Started, run, 2 * degree, stats, Name, ReleaseWhenDone);
        int seen = 0, unfinished = 0;
        foreach (var started in pump.Drain(run.Token))
        {
            if (tune && workers < degree)
            {
                if (!started.Value.IsCompleted) unfinished++;
                if (++seen == 16)
                {
                    if (2 * unfinished >= seen)
                    {
                        gate.Release();
                        stats.SetWorkers(++workers);
                    }
                    (seen, unfinished) = (0, 0);
                }
            }
            yield return started.Value.GetAwaiter().GetResult();
        }
    }

    /// <summary>Waits for a mapped element nobody will take and releases it.</summary>
    static void ReleaseWhenDone<U>(Task<Sourced<U>> task)
    {
        try { Ownership.Release(task.GetAwaiter().GetResult().Value); }
        catch (Exception) { /* Its failure is not needed: the run is being abandoned. */ }
    }

    /// <summary><paramref name="degree"/> workers take elements from a shared reader and pass results on as they finish.</summary>
    IEnumerable<Sourced<U>> MapUnordered<U>(StreamRun run, StageStats stats, Func<T, U> function, int degree, string name)
    {
        using var results = new BlockingCollection<Sourced<U>>(2 * degree);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(run.Token);
        ExceptionDispatchInfo? failure = null;
        using var source = Run(run.Part(run.Epoch, cancel.Token)).GetEnumerator();
        var sourceLock = new object();
        int running = degree;
        stats.SetWorkers(degree);
        void Work()
        {
            try
            {
                while (true)
                {
                    Sourced<T> item;
                    lock (sourceLock)
                    {
                        if (cancel.IsCancellationRequested || !source.MoveNext()) return;
                        item = source.Current;
                    }
                    var mapped = Apply(function, item, name);
                    try { results.Add(mapped, cancel.Token); }
                    catch (OperationCanceledException)
                    {
                        Ownership.Release(mapped.Value);
                        return;
                    }
                }
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested) { }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, ExceptionDispatchInfo.Capture(e), null);
                cancel.Cancel();
            }
            finally
            {
                if (Interlocked.Decrement(ref running) == 0) results.CompleteAdding();
            }
        }
        var workers = Enumerable.Range(0, degree).Select(_ => Task.Factory.StartNew(Work, CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        try
        {
            while (true)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                bool taken;
                Sourced<U> item;
                try { taken = results.TryTake(out item, Timeout.Infinite, run.Token); }
                finally { stats.AddWaitingUpstream(System.Diagnostics.Stopwatch.GetTimestamp() - start); }
                if (!taken) break;
                yield return item;
            }
            failure?.Throw();
        }
        finally
        {
            cancel.Cancel();
            Task.WaitAll(workers);
            while (results.TryTake(out var left)) Ownership.Release(left.Value);
        }
    }
}
