using Functional.Streams.Tables;

namespace Functional.Streams;

public sealed partial class DataStream<T>
{
    /// <summary>
    /// Groups consecutive elements into arrays of <paramref name="size"/> (the last one smaller,
    /// unless <paramref name="dropRemainder"/>). Batches of rows become tensors with
    /// <see cref="RowStreams.ToTensors(DataStream{Row[]}, string[])"/>; batches of tensors with <see cref="TensorBatching.Stack(DataStream{TorchSharp.torch.Tensor[]})"/>.
    /// </summary>
    public DataStream<T[]> Batch(int size, bool dropRemainder = false)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "Batch needs a size of at least 1.");
        return Window(size, size, dropRemainder, $"batch({size})");
    }

    /// <summary>
    /// Sliding windows of <paramref name="size"/> consecutive elements, a new one every
    /// <paramref name="shift"/> elements (default: <paramref name="size"/>, windows side by side).
    /// Overlapping windows share elements, so they are allowed only for elements that need no
    /// release (not rows, record batches or tensors).
    /// </summary>
    public DataStream<T[]> Window(int size, int? shift = null, bool dropRemainder = false)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "A window needs a size of at least 1.");
        int step = shift ?? size;
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(shift), step, "A window's shift must be at least 1.");
        if (step < size && Ownership<T>.NeedsRelease)
            throw new NotSupportedException(
                $"Overlapping windows (shift {step} < size {size}) would share {typeof(T).Name} elements, which are released by their consumer; map them to values first.");
        return Window(size, step, dropRemainder, $"window({size}, shift {step})");
    }

    DataStream<T[]> Window(int size, int shift, bool dropRemainder, string name) =>
        Then<T[]>(name, (input, _) => Windows(input, size, shift, dropRemainder));

    static IEnumerable<Sourced<T[]>> Windows(IEnumerable<Sourced<T>> input, int size, int shift, bool dropRemainder)
    {
        var window = new List<Sourced<T>>(size);
        long skip = 0;
        try
        {
            foreach (var item in input)
            {
                if (skip > 0)
                {
                    skip--;
                    Ownership.Release(item.Value);
                    continue;
                }
                window.Add(item);
                if (window.Count < size) continue;
                var full = Emit(window);
                if (shift >= size)
                {
                    window.Clear();
                    skip = shift - size;
                }
                else window.RemoveRange(0, shift);
                yield return full;
            }
            // Windows that start before the end but run past it.
            while (window.Count > 0 && !dropRemainder)
            {
                var rest = Emit(window);
                window.RemoveRange(0, Math.Min(shift, window.Count));
                yield return rest;
            }
        }
        finally
        {
            foreach (var left in window) Ownership.Release(left.Value);
        }
    }

    static Sourced<T[]> Emit(List<Sourced<T>> window)
    {
        var values = new T[window.Count];
        for (int i = 0; i < values.Length; i++) values[i] = window[i].Value;
        return new(values, window[0].Origin);
    }
}

/// <summary>Operators for streams of arrays.</summary>
public static class ArrayStreams
{
    /// <summary>The elements of each array, in order: the inverse of <see cref="DataStream{T}.Batch"/>.</summary>
    public static DataStream<T> Unbatch<T>(this DataStream<T[]> stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return stream.Then<T>("unbatch", (input, _) => Unbatched(input));
    }

    static IEnumerable<Sourced<T>> Unbatched<T>(IEnumerable<Sourced<T[]>> input)
    {
        foreach (var batch in input)
        {
            for (int i = 0; i < batch.Value.Length; i++)
                yield return new(batch.Value[i], batch.Origin with { Row = batch.Origin.Row + i });
        }
    }
}
