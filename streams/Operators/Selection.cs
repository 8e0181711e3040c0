namespace Functional.Streams;

// Operators that keep some elements and drop (release) the others.
public sealed partial class DataStream<T>
{
    /// <summary>Keeps the elements for which <paramref name="predicate"/> is true; the others are released.</summary>
    /// <example><c>rows.Filter(row => row.Int64("label") != 0)</c></example>
    public DataStream<T> Filter(Func<T, bool> predicate)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        return Then<T>("filter", (input, _) => Filtered(input, predicate));
    }

    static IEnumerable<Sourced<T>> Filtered(IEnumerable<Sourced<T>> input, Func<T, bool> predicate)
    {
        foreach (var item in input)
        {
            bool keep;
            try { keep = predicate(item.Value); }
            catch (Exception e)
            {
                Ownership.Release(item.Value);
                throw StreamException.Wrap("filter", item.Origin, e);
            }
            if (keep) yield return item;
            else Ownership.Release(item.Value);
        }
    }

    /// <summary>The first <paramref name="count"/> elements; the source is not read further.</summary>
    public DataStream<T> Take(long count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "Take needs a count of at least 0.");
        return Then<T>($"take({count})", (input, _) => input.Take((int)Math.Min(count, int.MaxValue)));
    }

    /// <summary>Every element after the first <paramref name="count"/> (which are read and released).</summary>
    public DataStream<T> Skip(long count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "Skip needs a count of at least 0.");
        return Then<T>($"skip({count})", (input, _) => Skipped(input, count));
    }

    static IEnumerable<Sourced<T>> Skipped(IEnumerable<Sourced<T>> input, long count)
    {
        long seen = 0;
        foreach (var item in input)
        {
            if (seen++ < count) Ownership.Release(item.Value);
            else yield return item;
        }
    }

    /// <summary>
    /// Every <paramref name="count"/>-th element starting at <paramref name="index"/>: the shards
    /// 0 .. count-1 are disjoint and together hold every element (one per worker in data-parallel
    /// training). Shard before shuffling so each worker sees a fixed part of the data.
    /// </summary>
    public DataStream<T> Shard(int count, int index)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "Shard needs a count of at least 1.");
        if (index < 0 || index >= count) throw new ArgumentOutOfRangeException(nameof(index), index, $"The shard index must be in [0, {count}).");
        return Then<T>($"shard({index} of {count})", (input, _) => Sharded(input, count, index));
    }

    /// <summary>This rank's shard in data-parallel training: <c>Shard(ranks.Size, ranks.Rank)</c>
    /// (every rank reads the source and keeps its elements). To read less, give each rank its
    /// own files with <see cref="Functional.Distributed.Communicator.Shard{TItem}(IEnumerable{TItem})"/>.</summary>
    public DataStream<T> Shard(Functional.Distributed.Communicator ranks)
    {
        ArgumentNullException.ThrowIfNull(ranks);
        return Shard(ranks.Size, ranks.Rank);
    }

    static IEnumerable<Sourced<T>> Sharded(IEnumerable<Sourced<T>> input, int count, int index)
    {
        long position = 0;
        foreach (var item in input)
        {
            if (position++ % count == index) yield return item;
            else Ownership.Release(item.Value);
        }
    }
}
