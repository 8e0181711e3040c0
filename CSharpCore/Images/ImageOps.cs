using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Images;

/// <summary>
/// Image operations on float tensors laid out [channels, height, width] or [batch, channels,
/// height, width] (values in [0, 1]), as tf.image and torchvision's functional transforms do
/// them. Each returns a new tensor and leaves its input as it was. Shapes and ranks are checked
/// first: a wrong input is an <see cref="ArgumentException"/> naming what was expected.
/// </summary>
public static class ImageOps
{
    /// <summary>The luma weights of ITU-R BT.601 that Keras (tf.image.rgb_to_grayscale),
    /// torchvision and Pillow use: 0.2989 R + 0.587 G + 0.114 B.</summary>
    public static IReadOnlyList<float> LumaWeights { get; } = Array.AsReadOnly([0.2989f, 0.587f, 0.114f]);

    /// <summary>RGB to one gray channel with <see cref="LumaWeights"/>: [3, H, W] -> [1, H, W] (or batched).</summary>
    public static Tensor Grayscale(Tensor image)
    {
        int c = ChannelDim(image, nameof(image));
        if (image.shape[c] != 3) throw new ArgumentException($"Grayscale takes 3 channels (RGB); the image has {image.shape[c]} (shape [{string.Join(", ", image.shape)}]).", nameof(image));
        using var weights = torch.tensor(LumaWeights.ToArray(), [3, 1, 1], dtype: image.dtype, device: image.device);
        using var weighted = image.mul(weights);
        return weighted.sum(c, keepdim: true);
    }

    /// <summary>Bilinear resize to <paramref name="height"/> x <paramref name="width"/> (tf.image.resize
    /// and Keras's Resizing; <paramref name="antialias"/> filters when shrinking, as torchvision does by default).</summary>
    public static Tensor Resize(Tensor image, int height, int width, bool antialias = false)
    {
        RequireSize(height, width);
        bool single = ChannelDim(image, nameof(image)) == 0;
        if (image.shape[^2] == height && image.shape[^1] == width) return image.alias();
        using var batch = single ? image.unsqueeze(0) : image.alias();
        using var resized = nn.functional.interpolate(batch, [height, width], mode: InterpolationMode.Bilinear, align_corners: false, antialias: antialias);
        return single ? resized.squeeze(0) : resized.alias();
    }

    /// <summary>The <paramref name="height"/> x <paramref name="width"/> window starting at (<paramref name="top"/>, <paramref name="left"/>).</summary>
    public static Tensor Crop(Tensor image, int top, int left, int height, int width)
    {
        RequireSize(height, width);
        ChannelDim(image, nameof(image));
        long h = image.shape[^2], w = image.shape[^1];
        if (top < 0 || left < 0 || top + height > h || left + width > w)
            throw new ArgumentException($"A {height} x {width} crop at ({top}, {left}) does not fit a {h} x {w} image.", nameof(image));
        using var rows = image.narrow(-2, top, height);
        using var window = rows.narrow(-1, left, width);
        return window.contiguous();
    }

    /// <summary>The central <paramref name="height"/> x <paramref name="width"/> window (Keras's CenterCrop; an image smaller than that is resized first).</summary>
    public static Tensor CenterCrop(Tensor image, int height, int width)
    {
        RequireSize(height, width);
        ChannelDim(image, nameof(image));
        long h = image.shape[^2], w = image.shape[^1];
        if (h < height || w < width)
        {
            // Keras resizes so the crop fits, keeping the aspect ratio.
            double scale = Math.Max((double)height / h, (double)width / w);
            using var larger = Resize(image, (int)Math.Ceiling(h * scale), (int)Math.Ceiling(w * scale));
            return CenterCrop(larger, height, width);
        }
        return Crop(image, (int)(h - height) / 2, (int)(w - width) / 2, height, width);
    }

    /// <summary>Mirrored left to right.</summary>
    public static Tensor FlipHorizontal(Tensor image)
    {
        ChannelDim(image, nameof(image));
        return image.flip(-1);
    }

    /// <summary>Mirrored top to bottom.</summary>
    public static Tensor FlipVertical(Tensor image)
    {
        ChannelDim(image, nameof(image));
        return image.flip(-2);
    }

    /// <summary>
    /// Rotated by <paramref name="radians"/> (counter-clockwise), zoomed by <paramref name="zoom"/>
    /// (above 0 zooms out: the image shows 1 + zoom times its extent, as Keras's RandomZoom) and
    /// shifted by the fractions <paramref name="shiftX"/> and <paramref name="shiftY"/> of its
    /// width and height, about its centre, sampled bilinearly; points outside are filled by
    /// reflecting the image (Keras's default fill mode).
    /// </summary>
    public static Tensor Affine(Tensor image, double radians, double zoom = 0, double shiftX = 0, double shiftY = 0)
    {
        bool single = ChannelDim(image, nameof(image)) == 0;
        if (zoom <= -1) throw new ArgumentOutOfRangeException(nameof(zoom), zoom, "A zoom of -1 or less leaves nothing to show.");
        using var batch = single ? image.unsqueeze(0) : image.alias();
        using var row = torch.tensor(AffineRow(radians, zoom, shiftX, shiftY, batch.shape[^2], batch.shape[^1]), [1, 2, 3], dtype: batch.dtype, device: batch.device);
        using var theta = row.expand(batch.shape[0], 2, 3);
        using var grid = nn.functional.affine_grid(theta, batch.shape, align_corners: false);
        using var sampled = nn.functional.grid_sample(batch, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Reflection, align_corners: false);
        return single ? sampled.squeeze(0) : sampled.alias();
    }

    /// <summary>
    /// affine_grid's matrix (output coordinates in [-1, 1] to input ones) for a rotation, zoom and
    /// shift in pixel space: the off-diagonal terms carry the aspect ratio, so a non-square image
    /// turns without shearing.
    /// </summary>
    internal static float[] AffineRow(double radians, double zoom, double shiftX, double shiftY, long height, long width)
    {
        double scale = 1 + zoom, cos = Math.Cos(radians) * scale, sin = Math.Sin(radians) * scale, aspect = (double)height / width;
        return [(float)cos, (float)(-sin * aspect), (float)(-2 * shiftX), (float)(sin / aspect), (float)cos, (float)(-2 * shiftY)];
    }

    /// <summary>Adds <paramref name="delta"/> to every value, kept in [0, 1] (Keras's RandomBrightness).</summary>
    public static Tensor AdjustBrightness(Tensor image, double delta)
    {
        ChannelDim(image, nameof(image));
        using var shifted = image.add(delta);
        return shifted.clamp(0, 1);
    }

    /// <summary>Moves each channel's values away from (<paramref name="factor"/> &gt; 1) or towards
    /// (&lt; 1) its mean, kept in [0, 1] (tf.image.adjust_contrast, Keras's RandomContrast).</summary>
    public static Tensor AdjustContrast(Tensor image, double factor)
    {
        ChannelDim(image, nameof(image));
        if (factor < 0) throw new ArgumentOutOfRangeException(nameof(factor), factor, "A contrast factor is 0 or more.");
        using var mean = image.mean([-2L, -1L], keepdim: true);
        using var centred = image.sub(mean);
        using var scaled = centred.mul(factor);
        using var moved = scaled.add(mean);
        return moved.clamp(0, 1);
    }

    /// <summary>(image - mean) / std per channel (torchvision's Normalize), e.g. ImageNet's statistics.</summary>
    public static Tensor Normalize(Tensor image, float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        int c = ChannelDim(image, nameof(image));
        if (mean.Length != image.shape[c] || std.Length != image.shape[c])
            throw new ArgumentException($"Normalize needs a mean and a std per channel ({image.shape[c]}); got {mean.Length} and {std.Length}.", nameof(mean));
        if (std.Any(s => !(s > 0))) throw new ArgumentException("Every std must be above 0.", nameof(std));
        using var m = torch.tensor(mean, [mean.Length, 1, 1], dtype: image.dtype, device: image.device);
        using var s = torch.tensor(std, [std.Length, 1, 1], dtype: image.dtype, device: image.device);
        using var centred = image.sub(m);
        return centred.div(s);
    }

    /// <summary>The channel dimension (0 for [C, H, W], 1 for [N, C, H, W]); other ranks and non-float dtypes are refused.</summary>
    internal static int ChannelDim(Tensor image, string parameter)
    {
        ArgumentNullException.ThrowIfNull(image, parameter);
        if (image.dim() is not (3 or 4))
            throw new ArgumentException($"An image is [channels, height, width] or [batch, channels, height, width]; got shape [{string.Join(", ", image.shape)}].", parameter);
        if (!image.is_floating_point())
            throw new ArgumentException($"Image operations take floating-point images (values in [0, 1]); got {image.dtype}. Convert with .to_type(float32).div(255).", parameter);
        if (image.shape[^1] < 1 || image.shape[^2] < 1) throw new ArgumentException($"An empty image (shape [{string.Join(", ", image.shape)}]).", parameter);
        return image.dim() == 3 ? 0 : 1;
    }

    static void RequireSize(int height, int width)
    {
        if (height < 1 || width < 1) throw new ArgumentOutOfRangeException(nameof(height), $"An image size is at least 1 x 1; got {height} x {width}.");
    }
}
