using Apache.Arrow;
using Functional.Streams.Tables;
using TorchSharp;

namespace Functional.Streams;

public sealed partial class DataStream<T>
{
    /// <summary>
    /// Keeps the elements of the first complete run in memory and replays them in later runs
    /// without reading the source again (a run abandoned halfway caches nothing). Place it
    /// before per-epoch shuffles. Record batches and tensors are replayed as shared views of the
    /// cached buffers (the consumer may dispose them as usual); rows cannot be cached (cache the
    /// record batches before <see cref="RowStreams.Rows"/>); for record batches on disk see
    /// <see cref="RecordBatchStreams.CacheToFile"/>. Disposing the stream releases the cached elements.
    /// </summary>
    public DataStream<T> Cache()
    {
        var share = Ownership<T>.Share ?? throw new NotSupportedException(
            $"A stream of {typeof(T).Name} cannot be cached: its elements are released by their consumer. Cache record batches, single tensors or plain values (before they become rows or pairs of tensors).");
        List<Sourced<T>>? complete = null;
        var gate = new object();
        return Then<T>("cache(memory)", (input, _) =>
        {
            lock (gate)
                if (complete is { } cached) return cached.Select(item => item with { Value = share(item.Value) });
            return Filling(input, share, list => { lock (gate) complete ??= list; });
        }).ReleasingOnDispose(() =>
        {
            lock (gate)
            {
                foreach (var kept in complete ?? []) Ownership.Release(kept.Value);
                complete = null;
            }
        });
    }

    static IEnumerable<Sourced<T>> Filling(IEnumerable<Sourced<T>> input, Func<T, T> share, Action<List<Sourced<T>>> done)
    {
        var seen = new List<Sourced<T>>();
        bool finished = false;
        try
        {
            foreach (var item in input)
            {
                seen.Add(item with { Value = share(item.Value) });
                yield return item;
            }
            finished = true;
            done(seen);
        }
        finally
        {
            if (!finished) foreach (var kept in seen) Ownership.Release(kept.Value);
        }
    }
}
