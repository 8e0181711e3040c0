using System.Runtime.CompilerServices;
using Functional.Streams.Tables;

namespace Functional.Streams;

public sealed partial class DataStream<T>
{
    /// <summary>
    /// Shuffles through a buffer of <paramref name="bufferSize"/> elements: each output is drawn
    /// at random from the buffer, and the next input takes its place (a buffer as large as the
    /// data gives a uniform shuffle). The order is fixed by <paramref name="seed"/> and, when
    /// <paramref name="reshuffleEachEpoch"/>, the epoch: same seed, same order.
    /// Memory: at most <paramref name="bufferSize"/> elements are held.
    /// </summary>
    /// <example><c>rows.Shuffle(10_000, seed: 42)</c></example>
    public DataStream<T> Shuffle(int bufferSize, ulong seed = 0, bool reshuffleEachEpoch = true)
    {
        if (bufferSize < 1) throw new ArgumentOutOfRangeException(nameof(bufferSize), bufferSize, "Shuffle needs a buffer of at least 1 element.");
        return Then<T>($"shuffle({bufferSize})", (input, run) => Shuffled(input, bufferSize, SplitMix.For(seed, reshuffleEachEpoch ? run.Epoch : 0)));
    }

    static IEnumerable<Sourced<T>> Shuffled(IEnumerable<Sourced<T>> input, int bufferSize, SplitMix random)
    {
        var buffer = new List<Sourced<T>>(Math.Min(bufferSize, 1 << 16));
        // Rows keep their record batches alive; the compactor stops a few rows from holding many batches.
        var rows = typeof(T) == typeof(Row) ? (List<Sourced<Row>>)(object)buffer : null;
        var compactor = rows is null ? null : new RowCompactor();
        try
        {
            foreach (var item in input)
            {
                compactor?.Added(AsRow(item.Value));
                if (buffer.Count < bufferSize)
                {
                    buffer.Add(item);
                    continue;
                }
                int pick = random.Below(bufferSize);
                var chosen = buffer[pick];
                buffer[pick] = item;
                compactor?.Removed(AsRow(chosen.Value));
                compactor?.MaybeCompact(rows!);
                yield return chosen;
            }
            while (buffer.Count > 0)
            {
                int pick = random.Below(buffer.Count), last = buffer.Count - 1;
                var chosen = buffer[pick];
                buffer[pick] = buffer[last];
                buffer.RemoveAt(last);
                yield return chosen;
            }
        }
        finally
        {
            foreach (var left in buffer) Ownership.Release(left.Value);
        }
    }

    static Row AsRow(T value) => Unsafe.As<T, Row>(ref value);
}
