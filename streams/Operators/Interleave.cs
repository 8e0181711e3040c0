namespace Functional.Streams;

public static partial class DataStream
{
    /// <summary>
    /// Reads <paramref name="cycleLength"/> of <paramref name="sources"/> at once and takes one
    /// element from each in turn; when one ends, the next source takes its place. With
    /// <paramref name="parallel"/> each open source reads ahead on its own thread (up to
    /// <paramref name="readAhead"/> elements), so files are read in parallel. The order depends
    /// only on the sources, never on timing.
    /// </summary>
    /// <example><c>DataStream.Interleave(DataStream.Glob("data/part-*.parquet").Select(Stream.ParquetBatches).ToArray(), cycleLength: 2)</c></example>
    public static DataStream<T> Interleave<T>(IReadOnlyList<DataStream<T>> sources, int cycleLength = 2, bool parallel = true, int readAhead = 2)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (sources.Count == 0) throw new ArgumentException("Interleave needs at least one source.", nameof(sources));
        if (cycleLength < 1) throw new ArgumentOutOfRangeException(nameof(cycleLength), cycleLength, "The cycle length must be at least 1.");
        if (readAhead < 1) throw new ArgumentOutOfRangeException(nameof(readAhead), readAhead, "Read-ahead must be at least 1 element.");
        return new DataStream<T>($"interleave({sources.Count} sources, {cycleLength} at a time)",
            (run, stats) => Interleaved(sources, cycleLength, parallel ? readAhead : 0, run, stats), [.. sources]);
    }

    static IEnumerable<Sourced<T>> Interleaved<T>(IReadOnlyList<DataStream<T>> sources, int cycleLength, int readAhead, StreamRun run, StageStats stats)
    {
        var open = new List<IEnumerator<Sourced<T>>>();
        var pumps = new List<IDisposable>();
        int next = 0;
        IEnumerator<Sourced<T>> Open(DataStream<T> source)
        {
            if (readAhead == 0) return source.Run(run, stats).GetEnumerator();
            var pump = new Pump<T>(r => source.Run(r), run, readAhead, stats, source.Name);
            pumps.Add(pump);
            return pump.Drain(run.Token).GetEnumerator();
        }
        try
        {
            while (open.Count < cycleLength && next < sources.Count) open.Add(Open(sources[next++]));
            for (int slot = 0; open.Count > 0; slot = open.Count == 0 ? 0 : slot % open.Count)
            {
                if (open[slot].MoveNext())
                {
                    yield return open[slot].Current;
                    slot++;
                    continue;
                }
                open[slot].Dispose();
                if (next < sources.Count) open[slot] = Open(sources[next++]);
                else open.RemoveAt(slot);
            }
        }
        finally
        {
            foreach (var reader in open) reader.Dispose();
            foreach (var pump in pumps) pump.Dispose();
        }
    }
}
