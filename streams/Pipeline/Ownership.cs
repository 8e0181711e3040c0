using System.Runtime.CompilerServices;
using Apache.Arrow;
using Functional.Streams.Tables;
using Functional.Training;
using Functional.Trees;
using TorchSharp;

namespace Functional.Streams;

/// <summary>
/// What owning an element of type <typeparamref name="T"/> means, worked out once per element
/// type (when its first stream is made), not by type tests in each operator at run time.
/// Elements belong to whoever receives them; a stage that drops one (filter, take, skip, shard,
/// a buffer emptied on cancellation) releases it here: rows give their reference back to their
/// record batch; record batches, tensors, training batches and other disposables are disposed;
/// arrays and tuples release what they hold. <see cref="Bytes"/> is what the stage counters add up.
/// </summary>
internal static class Ownership<T>
{
    static readonly ElementKind Kind = ElementKind.Of(typeof(T));

    /// <summary>Whether elements hold something their consumer releases.</summary>
    public static bool NeedsRelease => Kind.NeedsRelease;

    /// <summary>Releases an element nobody will take.</summary>
    public static void Release(T value)
    {
        if (Kind.NeedsRelease && value is not null) Kind.Release(value);
    }

    /// <summary>Bytes an element holds (Arrow buffers, tensors, rows); 0 for plain values.</summary>
    public static long Bytes(T value) => Kind.Bytes is { } bytes && value is not null ? bytes(value) : 0;

    /// <summary>A second reference to an element, for a cache to keep while the consumer owns the
    /// first; null when elements of this type cannot be shared.</summary>
    public static Func<T, T>? Share { get; } =
        typeof(T) == typeof(RecordBatch) ? value => (T)(object)((RecordBatch)(object)value!).SliceShared(0, ((RecordBatch)(object)value!).Length)
        : typeof(T) == typeof(torch.Tensor) ? value => (T)(object)((torch.Tensor)(object)value!).alias()
        : Kind.NeedsRelease ? null
        : value => value;
}

/// <summary>Releases through <see cref="Ownership{T}"/> of the element's static type (the call
/// site's type, fixed at compile time).</summary>
internal static class Ownership
{
    /// <inheritdoc cref="Ownership{T}.Release"/>
    public static void Release<T>(T value) => Ownership<T>.Release(value);
}

/// <summary>How elements of one type are released and measured, built from the type's structure.</summary>
internal sealed record ElementKind(bool NeedsRelease, Action<object> Release, Func<object, long>? Bytes)
{
    static readonly ElementKind Plain = new(false, _ => { }, null);

    public static ElementKind Of(Type type)
    {
        if (type == typeof(Row)) return new(true, v => ((Row)v).Dispose(), v => ((Row)v).Bytes);
        if (type == typeof(RecordBatch)) return new(true, v => ((RecordBatch)v).Dispose(), v => RowBatchMemory.BytesOf((RecordBatch)v));
        if (type == typeof(torch.Tensor)) return new(true, v => ((torch.Tensor)v).Dispose(), v => TensorBytes((torch.Tensor)v));
        if (type == typeof(Batch))
            return new(true, v => ((Batch)v).Dispose(), v => TreeBytes(((Batch)v).Inputs) + TreeBytes(((Batch)v).Targets));
        if (type == typeof(byte[])) return new(false, _ => { }, v => ((byte[])v).Length);
        if (type.IsArray)
        {
            var element = Of(type.GetElementType()!);
            return element.NeedsRelease || element.Bytes is not null
                ? new(element.NeedsRelease, v => { foreach (var x in (System.Array)v) if (x is not null) element.Release(x); },
                    element.Bytes is { } size ? v => ((System.Array)v).Cast<object?>().Sum(x => x is null ? 0 : size(x)) : null)
                : Plain;
        }
        if (typeof(ITuple).IsAssignableFrom(type) && type.IsGenericType)
        {
            var fields = type.GetGenericArguments().Select(Of).ToArray();
            if (fields.All(f => !f.NeedsRelease && f.Bytes is null)) return Plain;
            return new(fields.Any(f => f.NeedsRelease),
                v =>
                {
                    var tuple = (ITuple)v;
                    for (int i = 0; i < fields.Length; i++) if (tuple[i] is { } x) fields[i].Release(x);
                },
                v =>
                {
                    var tuple = (ITuple)v;
                    long total = 0;
                    for (int i = 0; i < fields.Length; i++) if (fields[i].Bytes is { } size && tuple[i] is { } x) total += size(x);
                    return total;
                });
        }
        if (typeof(IDisposable).IsAssignableFrom(type)) return new(true, v => ((IDisposable)v).Dispose(), null);
        return Plain;
    }

    static long TensorBytes(torch.Tensor t) => t.IsInvalid ? 0 : t.NumberOfElements * t.ElementSize;

    static long TreeBytes(TensorTree tree) => tree.Leaves.Sum(TensorBytes);
}
