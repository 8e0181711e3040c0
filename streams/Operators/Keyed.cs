using Functional.Layers;

namespace Functional.Streams;

public sealed partial class DataStream<T>
{
    /// <summary>Each element with the random key (<paramref name="seed"/>, epoch, index in the
    /// run): per-element randomness that does not depend on threads or timing.</summary>
    internal DataStream<(T Value, RandomKey Key)> Keyed(ulong seed) =>
        Then<(T, RandomKey)>("key", (input, run) =>
        {
            var epochKey = new RandomKey(seed).Fold(run.Epoch);
            return input.Select((item, index) => new Sourced<(T, RandomKey)>((item.Value, epochKey.Fold(index)), item.Origin));
        });

    /// <summary>Each element (a batch of <paramref name="rows"/> rows) with the epoch's key and the
    /// index of its first row in the run: row j's key is the epoch key folded with j, as in <see cref="Keyed"/>.</summary>
    internal DataStream<(T Value, RandomKey Key, long First)> KeyedRows(ulong seed, Func<T, long> rows) =>
        Then<(T, RandomKey, long)>("key", (input, run) => KeyedRowsOf(input, new RandomKey(seed).Fold(run.Epoch), rows));

    static IEnumerable<Sourced<(T, RandomKey, long)>> KeyedRowsOf(IEnumerable<Sourced<T>> input, RandomKey epochKey, Func<T, long> rows)
    {
        long first = 0;
        foreach (var item in input)
        {
            // Counted before the element is passed on: its consumer may dispose it.
            long count = rows(item.Value);
            yield return new((item.Value, epochKey, first), item.Origin);
            first += count;
        }
    }

    /// <summary>Keeps the elements <paramref name="keep"/> accepts (it releases the others) and
    /// counts the rest in the stage's Dropped counter.</summary>
    internal DataStream<T> DropCounted(string name, Func<T, bool> keep) =>
        new(name, (run, stats) => Counted(Run(run, stats), stats, keep), this);

    static IEnumerable<Sourced<T>> Counted(IEnumerable<Sourced<T>> input, StageStats stats, Func<T, bool> keep)
    {
        foreach (var item in input)
        {
            if (keep(item.Value)) yield return item;
            else stats.Dropped();
        }
    }
}
