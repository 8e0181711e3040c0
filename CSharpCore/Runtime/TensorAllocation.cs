using System.Numerics;
using static TorchSharp.torch;

namespace Functional.Runtime;

/// <summary>
/// The check every parameter allocation passes before libtorch sees its shape. TorchSharp's
/// <c>rand</c> export returns an invalid tensor handle when libtorch fails (the next use of it
/// ends the process), and an absurd size given to <c>zeros</c> can exhaust memory. Here such a shape is an <see cref="ArgumentOutOfRangeException"/>
/// (parameter name "shape") instead. A caller may also cap what a whole operation allocates
/// with <see cref="Limit"/> (loading a saved model allocates no more than its weights file holds).
/// </summary>
public static class TensorAllocation
{
    [ThreadStatic] static Budget? budget;
    [ThreadStatic] static bool shapesOnly;
    [ThreadStatic] static ScalarType? floatsCountedAs;

    /// <summary>Whether initialisers on this thread only need the shapes (see <see cref="ForShapes"/>):
    /// they then return uninitialised tensors instead of drawing values.</summary>
    public static bool ShapesOnly => shapesOnly;

    /// <summary>Until the returned scope is disposed, initialisers on this thread make tensors of
    /// the right shapes and dtypes without filling them (checking a description against saved
    /// weights needs no random numbers).</summary>
    public static IDisposable ForShapes()
    {
        bool previous = shapesOnly;
        shapesOnly = true;
        return new RestoreShapes(previous);
    }

    sealed class RestoreShapes(bool previous) : IDisposable
    {
        public void Dispose() => shapesOnly = previous;
    }

    /// <summary>Throws unless a tensor of <paramref name="shape"/> and <paramref name="dtype"/> may be
    /// allocated: no negative dimension, an element count that fits 64 bits, at most the machine's
    /// memory, and within the current <see cref="Limit"/>. Returns its size in bytes.</summary>
    /// <param name="shape">The shape.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="what">Names the tensor in the message, e.g. "layer 'dense' kernel".</param>
    public static long Check(long[] shape, ScalarType dtype, string what)
    {
        ArgumentNullException.ThrowIfNull(shape);
        BigInteger elements = BigInteger.One;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentOutOfRangeException(nameof(shape), $"{what}: shape ({string.Join(", ", shape)}) has a negative dimension.");
            elements *= d;
        }
        var bytes = elements * ElementSize(dtype);
        var counted = floatsCountedAs is { } kept && IsFloating(dtype) ? elements * ElementSize(kept) : bytes;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (bytes > available)
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"{what}: shape ({string.Join(", ", shape)}) needs {Describe(bytes)}, more than this machine's {Describe(available)} of memory.");
        if (budget is { } b)
        {
            if (b.Used + counted > b.Bytes)
                throw new ArgumentOutOfRangeException(nameof(shape),
                    $"{what}: shape ({string.Join(", ", shape)}) would take {b.Purpose} past its limit of {Describe(b.Bytes)}.");
            b.Used += (long)counted;
        }
        return (long)bytes;
    }

    /// <summary>Caps what <see cref="Check"/> lets through on this thread, in total, until the
    /// returned scope is disposed. Scopes do not nest: an inner one replaces the outer one.</summary>
    /// <param name="bytes">The cap.</param>
    /// <param name="purpose">Names the operation in the message, e.g. "loading model 'saved/mnist'".</param>
    public static IDisposable Limit(long bytes, string purpose)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        var previous = budget;
        budget = new Budget(bytes, purpose);
        return new Restore(previous);
    }

    /// <summary>Until the returned scope is disposed, floating-point tensors count against the
    /// <see cref="Limit"/> at the size of <paramref name="dtype"/>: a layer that makes float
    /// weights only to keep them as int8 (a quantized layer) is held to what it keeps.</summary>
    public static IDisposable CountFloatsAs(ScalarType dtype)
    {
        var previous = floatsCountedAs;
        floatsCountedAs = dtype;
        return new RestoreCounting(previous);
    }

    sealed class RestoreCounting(ScalarType? previous) : IDisposable
    {
        public void Dispose() => floatsCountedAs = previous;
    }

    static bool IsFloating(ScalarType dtype) => dtype is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;

    /// <summary>Bytes per element of <paramref name="dtype"/>.</summary>
    public static int ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Bool or ScalarType.Byte or ScalarType.Int8 or ScalarType.QInt8 or ScalarType.QUInt8 => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 or ScalarType.QInt32 => 4,
        ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => 8,
    };

    static string Describe(BigInteger bytes) =>
        bytes >= 1L << 30 ? $"{(double)bytes / (1L << 30):N1} GiB" : bytes >= 1L << 20 ? $"{(double)bytes / (1L << 20):N1} MiB" : $"{bytes} bytes";

    sealed class Budget(long bytes, string purpose)
    {
        public long Bytes { get; } = bytes;
        public string Purpose { get; } = purpose;
        public long Used { get; set; }
    }

    sealed class Restore(Budget? previous) : IDisposable
    {
        public void Dispose() => budget = previous;
    }
}
