namespace Functional.Layers;

/// <summary>Output sizes of sliding-window layers (convolution, pooling).</summary>
static class SpatialShape
{
    /// <summary>Padding per side for a kernel size.</summary>
    public static long PaddingFor(Padding padding, long kernel) => padding == Padding.Same ? kernel / 2 : 0;

    /// <summary>floor((size + 2 pad - kernel) / stride) + 1, or -1 when the window does not fit.</summary>
    public static long Output(long size, long kernel, long stride, long pad) =>
        size + 2 * pad < kernel ? -1 : (size + 2 * pad - kernel) / stride + 1;

    /// <summary>The spatial output sizes of a window sliding over a channels-first per-example
    /// shape; a <see cref="ShapeException"/> naming the layer when the input does not fit.</summary>
    public static long[] SlideOver(long[] inputShape, long[] window, long[] strides, Padding padding, string layer, string what)
    {
        int rank = window.Length;
        if (inputShape.Length != rank + 1)
            throw new ShapeException(
                $"Layer {layer} expects input of shape {(rank == 1 ? "(batch, channels, length)" : "(batch, channels, height, width)")}, but received {ShapeException.FormatBatch(inputShape)}.");
        var sizes = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            sizes[i] = Output(inputShape[i + 1], window[i], strides[i], PaddingFor(padding, window[i]));
            if (sizes[i] < 1)
                throw new ShapeException(
                    $"Layer {layer}: input {ShapeException.FormatBatch(inputShape)} is smaller than the {what} ({string.Join(", ", window)}).");
        }
        return sizes;
    }

    /// <summary>Checks a window size (positive; odd with Same padding).</summary>
    public static long[] Validate(long[] sizes, int rank, string what, Padding padding)
    {
        if (sizes.Length != rank || sizes.Any(k => k < 1))
            throw new ArgumentException($"{what} needs {rank} positive size(s); got ({string.Join(", ", sizes)}).");
        if (padding == Padding.Same && sizes.Any(k => k % 2 == 0))
            throw new ArgumentException($"Same padding needs odd {what} sizes; got ({string.Join(", ", sizes)}).");
        return sizes;
    }
}
