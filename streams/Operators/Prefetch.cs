namespace Functional.Streams;

public sealed partial class DataStream<T>
{
    /// <summary>
    /// Runs everything before this point on a background thread, up to <paramref name="count"/>
    /// elements ahead of the consumer, so input preparation overlaps with training. The stage's
    /// counters show how long the consumer waited for input (waiting upstream) and how long the
    /// producer waited for room (waiting downstream).
    /// </summary>
    /// <example><c>DataStream.Parquet("train.parquet").Shuffle(10_000, seed: 1).Batch(128).ToTensors("image", "label").Prefetch(4)</c></example>
    public DataStream<T> Prefetch(int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "Prefetch needs a buffer of at least 1 element.");
        return ThenDecoupled<T>($"prefetch({count})", (run, stats) => Prefetched(run, stats, count));
    }

    IEnumerable<Sourced<T>> Prefetched(StreamRun run, StageStats stats, int count)
    {
        using var pump = new Pump<T>(r => Run(r), run, count, stats, Name);
        foreach (var item in pump.Drain(run.Token)) yield return item;
    }
}
