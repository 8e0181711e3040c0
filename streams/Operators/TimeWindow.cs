using System.Diagnostics;

namespace Functional.Streams;

public sealed partial class DataStream<T>
{
    /// <summary>
    /// The elements that arrive in each period of <paramref name="span"/>, as arrays (periods in
    /// which nothing arrived produce nothing). Meant for live sources
    /// (<see cref="DataStream.FromObservable{T}"/>); the upstream runs on its own thread with at most
    /// <paramref name="capacity"/> elements waiting. Windows depend on timing, so they are not
    /// deterministic.
    /// </summary>
    public DataStream<T[]> WindowByTime(TimeSpan span, int capacity = 10_000)
    {
        if (span <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(span), span, "A time window must be longer than zero.");
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "The capacity must be at least 1.");
        return ThenDecoupled<T[]>($"window({span.TotalMilliseconds} ms)", (run, stats) => TimeWindows(run, stats, span, capacity));
    }

    IEnumerable<Sourced<T[]>> TimeWindows(StreamRun run, StageStats stats, TimeSpan span, int capacity)
    {
        using var pump = new Pump<T>(r => Run(r), run, capacity, stats, Name);
        var window = new List<Sourced<T>>();
        bool finished = false;
        try
        {
            while (!finished)
            {
                long end = Stopwatch.GetTimestamp() + (long)(span.TotalSeconds * Stopwatch.Frequency);
                while (!finished)
                {
                    var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), end);
                    if (left <= TimeSpan.Zero) break;
                    if (pump.TryTake(out var item, left, run.Token, out finished)) window.Add(item);
                }
                if (window.Count == 0) continue;
                var values = window.Select(w => w.Value).ToArray();
                var origin = window[0].Origin;
                window.Clear();
                yield return new(values, origin);
            }
        }
        finally
        {
            foreach (var left in window) Ownership.Release(left.Value);
        }
    }
}
