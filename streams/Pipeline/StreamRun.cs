using System.Collections.Concurrent;

namespace Functional.Streams;

/// <summary>One enumeration of a stream: which epoch (it seeds shuffles), how to cancel it, and
/// its own counters per stage (so two runs of one stream, or two epochs, never mix counts).</summary>
internal sealed class StreamRun
{
    readonly ConcurrentDictionary<IStage, StageStats> stats;

    public StreamRun(int epoch, CancellationToken token, bool preview = false) : this(epoch, token, new(ReferenceEqualityComparer.Instance), preview) { }

    StreamRun(int epoch, CancellationToken token, ConcurrentDictionary<IStage, StageStats> stats, bool preview) =>
        (Epoch, Token, this.stats, IsPreview) = (epoch, token, stats, preview);

    public int Epoch { get; }
    public CancellationToken Token { get; }

    /// <summary>A run that reads a few elements to show them: the stages do not report its counters.</summary>
    public bool IsPreview { get; }

    /// <summary>A part of this run with its own epoch or cancellation (a stage's worker, a
    /// repetition) that counts into this run's counters.</summary>
    public StreamRun Part(int epoch, CancellationToken token) => new(epoch, token, stats, IsPreview);

    /// <summary>The counters of <paramref name="stage"/> in this run.</summary>
    public StageStats StatsOf(IStage stage) => stats.GetOrAdd(stage, s => new StageStats(s.Name));
}
