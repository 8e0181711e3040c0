using System.Diagnostics;

namespace Functional.Streams;

/// <summary>
/// Counters of one stage, summed over every run of the stream (read them with
/// <see cref="Snapshot"/>; safe to read while the stream runs).
/// <list type="bullet">
/// <item><b>Elements</b>, <b>Bytes</b>: what the stage produced (bytes of Arrow buffers and tensors).</item>
/// <item><b>Busy</b>: time spent in the stage's own work.</item>
/// <item><b>WaitingUpstream</b>: time spent waiting for the stage before it.</item>
/// <item><b>WaitingDownstream</b>: time its elements waited to be taken (the consumer was busy,
/// or a buffer was full).</item>
/// <item><b>Dropped</b>: elements a live source dropped because the consumer fell behind
/// (see <see cref="OverflowPolicy"/>).</item>
/// <item><b>Workers</b>: threads a parallel map uses now (0 for other stages).</item>
/// </list>
/// </summary>
public sealed class StageStats
{
    long elements, bytes, dropped, inclusiveTicks, upstreamTicks, downstreamTicks;
    int workers;

    internal StageStats(string name) => Name = name;

    /// <summary>The stage's name, e.g. "shuffle(10000)".</summary>
    public string Name { get; }

    /// <summary>The counters now.</summary>
    public StageSnapshot Snapshot()
    {
        long inclusive = Interlocked.Read(ref inclusiveTicks), upstream = Interlocked.Read(ref upstreamTicks);
        return new(Name, Interlocked.Read(ref elements), Interlocked.Read(ref bytes),
            Ticks(Math.Max(0, inclusive - upstream)), Ticks(upstream), Ticks(Interlocked.Read(ref downstreamTicks)), Interlocked.Read(ref dropped),
            Volatile.Read(ref workers));
    }

    internal void Produced(long elementBytes)
    {
        Interlocked.Increment(ref elements);
        if (elementBytes > 0) Interlocked.Add(ref bytes, elementBytes);
    }

    internal void Dropped() => Interlocked.Increment(ref dropped);

    internal void SetWorkers(int count) => Volatile.Write(ref workers, count);

    /// <summary>Time inside the stage's MoveNext, its upstream's included.</summary>
    internal void AddInclusive(long ticks) => Interlocked.Add(ref inclusiveTicks, ticks);
    internal void AddWaitingUpstream(long ticks) => Interlocked.Add(ref upstreamTicks, ticks);
    internal void AddWaitingDownstream(long ticks) => Interlocked.Add(ref downstreamTicks, ticks);

    static TimeSpan Ticks(long stopwatchTicks) => Stopwatch.GetElapsedTime(0, stopwatchTicks);
}

/// <summary>A stage's counters at one moment (see <see cref="StageStats"/>).</summary>
public sealed record StageSnapshot(string Name, long Elements, long Bytes, TimeSpan Busy, TimeSpan WaitingUpstream, TimeSpan WaitingDownstream,
    long Dropped, int Workers)
{
    /// <summary>"shuffle(10000): 60000 elements, 47.0 MB, busy 0.41 s, waiting upstream 1.20 s, downstream 0.05 s".</summary>
    public override string ToString() =>
        $"{Name}: {Elements} elements, {Bytes / 1e6:F1} MB, busy {Busy.TotalSeconds:F2} s, waiting upstream {WaitingUpstream.TotalSeconds:F2} s, downstream {WaitingDownstream.TotalSeconds:F2} s" +
        (Dropped > 0 ? $", dropped {Dropped}" : "") + (Workers > 0 ? $", {Workers} workers" : "");
}
