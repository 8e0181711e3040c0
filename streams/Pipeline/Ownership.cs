using Functional.Streams.Tables;

namespace Functional.Streams;

/// <summary>
/// Elements belong to whoever receives them. A stage that drops an element (filter, take, skip,
/// shard, a buffer emptied on cancellation) releases it here: rows give their reference back to
/// their record batch; record batches, tensors and other disposables are disposed; arrays and
/// tuples release what they hold.
/// </summary>
internal static class Ownership
{
    public static void Release<T>(T value)
    {
        switch (value)
        {
            case Row row: row.Dispose(); break;
            case IDisposable disposable: disposable.Dispose(); break;
            case Array array:
                foreach (var item in array) Release(item);
                break;
            case System.Runtime.CompilerServices.ITuple tuple:
                for (int i = 0; i < tuple.Length; i++) Release(tuple[i]);
                break;
        }
    }

    /// <summary>Releases every element still in <paramref name="items"/> and empties it.</summary>
    public static void ReleaseAll<T>(ICollection<T> items)
    {
        foreach (var item in items) Release(item);
        items.Clear();
    }
}
