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
