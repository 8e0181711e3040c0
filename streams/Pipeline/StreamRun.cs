using System.Collections.Concurrent;

namespace Functional.Streams;

/// <summary>One enumeration of a stream: which epoch (it seeds shuffles), how to cancel it, and
/// its own counters per stage (so two runs of one stream, or two epochs, never mix counts).</summary>
internal sealed class StreamRun
{
    readonly ConcurrentDictionary<IStage, StageStats> stats;

    public StreamRun(int epoch, CancellationToken token) : this(epoch, token, new(ReferenceEqualityComparer.Instance)) { }

    StreamRun(int epoch, CancellationToken token, ConcurrentDictionary<IStage, StageStats> stats) => (Epoch, Token, this.stats) = (epoch, token, stats);

    public int Epoch { get; }
    public CancellationToken Token { get; }

    /// <summary>A part of this run with its own epoch or cancellation (a stage's worker, a
    /// repetition) that counts into this run's counters.</summary>
    public StreamRun Part(int epoch, CancellationToken token) => new(epoch, token, stats);

    /// <summary>The counters of <paramref name="stage"/> in this run.</summary>
    public StageStats StatsOf(IStage stage) => stats.GetOrAdd(stage, s => new StageStats(s.Name));
}
