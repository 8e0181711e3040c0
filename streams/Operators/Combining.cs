namespace Functional.Streams;

// Operators that join streams, or a stream with itself.
public sealed partial class DataStream<T>
{
    /// <summary>
    /// The stream <paramref name="count"/> times over (forever when null). Each repetition is a
    /// new run, so shuffles draw a new order each time.
    /// </summary>
    public DataStream<T> Repeat(int? count = null)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "Repeat needs a count of at least 0.");
        return new DataStream<T>(count is { } n ? $"repeat({n})" : "repeat", (run, stats) => Repeated(run, stats, count), this);
    }

    IEnumerable<Sourced<T>> Repeated(StreamRun run, StageStats stats, int? count)
    {
        for (int k = 0; count is null || k < count; k++)
        {
            run.Token.ThrowIfCancellationRequested();
            bool any = false;
            foreach (var item in Run(run.Part(unchecked(run.Epoch * 1_000_003 + k), run.Token), stats))
            {
                any = true;
                yield return item;
            }
            if (!any) yield break; // an empty stream repeated forever is still empty
        }
    }

    /// <summary>This stream's elements, then <paramref name="other"/>'s.</summary>
    public DataStream<T> Concat(DataStream<T> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new DataStream<T>("concat", (run, stats) => Run(run, stats).Concat(other.Run(run, stats)), this, other);
    }

    /// <summary>Pairs of elements, one from each stream, until either ends (the other's extra element is released).</summary>
    public DataStream<(T, U)> Zip<U>(DataStream<U> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new DataStream<(T, U)>("zip", (run, stats) => Zipped(Run(run, stats), other.Run(run, stats)), this, other);
    }

    static IEnumerable<Sourced<(T, U)>> Zipped<U>(IEnumerable<Sourced<T>> left, IEnumerable<Sourced<U>> right)
    {
        using var l = left.GetEnumerator();
        using var r = right.GetEnumerator();
        while (l.MoveNext())
        {
            if (!r.MoveNext())
            {
                Ownership.Release(l.Current.Value);
                yield break;
            }
            yield return new((l.Current.Value, r.Current.Value), l.Current.Origin);
        }
    }
}
