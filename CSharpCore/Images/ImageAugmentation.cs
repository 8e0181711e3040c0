using Functional.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Images;

/// <summary>
/// Random image augmentation, drawn from a <see cref="RandomKey"/> so the same key always gives
/// the same result (streams derive each element's key from (seed, epoch, element); layers from
/// the step's key, their path and the element). Each part is off at its default; on, it draws
/// as Keras's preprocessing layer of the same name does: a random crop, flips, a rotation (a
/// fraction of a full turn), a zoom and a translation (fractions of the size), and brightness
/// and contrast. Applied in that order to [channels, height, width] float images in [0, 1].
/// </summary>
/// <example><c>new ImageAugmentation { FlipHorizontal = true, Rotation = 0.05, Zoom = 0.1, Contrast = 0.2 }</c></example>
public sealed record ImageAugmentation
{
    /// <summary>Crop a random window of this height and width (with <see cref="CropWidth"/>), or 0 for none (RandomCrop).</summary>
    public int CropHeight { get; init; }

    /// <summary>The random crop's width.</summary>
    public int CropWidth { get; init; }

    /// <summary>Mirror left to right with probability 1/2 (RandomFlip "horizontal").</summary>
    public bool FlipHorizontal { get; init; }

    /// <summary>Mirror top to bottom with probability 1/2 (RandomFlip "vertical").</summary>
    public bool FlipVertical { get; init; }

    /// <summary>Rotate by a uniform fraction of a full turn in [-Rotation, Rotation] (RandomRotation's factor).</summary>
    public double Rotation { get; init; }

    /// <summary>Zoom by a uniform z in [-Zoom, Zoom]: z &gt; 0 zooms out (RandomZoom's height factor).</summary>
    public double Zoom { get; init; }

    /// <summary>Shift by uniform fractions of the width and height in [-Translation, Translation] (RandomTranslation).</summary>
    public double Translation { get; init; }

    /// <summary>Add a uniform delta in [-Brightness, Brightness] (RandomBrightness, values in [0, 1]).</summary>
    public double Brightness { get; init; }

    /// <summary>Scale contrast by a uniform factor in [1 - Contrast, 1 + Contrast] (RandomContrast).</summary>
    public double Contrast { get; init; }

    /// <summary>Checks the settings; a bad one is an <see cref="ArgumentException"/> naming it.</summary>
    public ImageAugmentation Validated()
    {
        if (CropHeight < 0 || CropWidth < 0 || (CropHeight == 0) != (CropWidth == 0))
            throw new ArgumentException($"A random crop needs both a height and a width of at least 1 (or neither); got {CropHeight} x {CropWidth}.");
        Require(Rotation, nameof(Rotation), 1);
        Require(Zoom, nameof(Zoom), 0.99);
        Require(Translation, nameof(Translation), 1);
        Require(Brightness, nameof(Brightness), 1);
        Require(Contrast, nameof(Contrast), 1);
        return this;
    }

    static void Require(double value, string name, double most)
    {
        if (!(value >= 0 && value <= most)) throw new ArgumentOutOfRangeException(name, value, $"{name} is between 0 and {most}.");
    }

    /// <summary>One image [C, H, W] augmented with the draws of <paramref name="key"/> (a new tensor).</summary>
    public Tensor Apply(Tensor image, RandomKey key)
    {
        if (ImageOps.ChannelDim(image, nameof(image)) != 0)
            throw new ArgumentException($"Augmentation takes one image [channels, height, width]; got shape [{string.Join(", ", image.shape)}] (map it over the batch's elements, each with its own key).", nameof(image));
        var current = image.alias();
        void Replace(Tensor next)
        {
            current.Dispose();
            current = next;
        }
        try
        {
            if (CropHeight > 0)
            {
                long h = current.shape[1], w = current.shape[2];
                if (h < CropHeight || w < CropWidth) throw new ArgumentException($"A {CropHeight} x {CropWidth} random crop does not fit a {h} x {w} image.", nameof(image));
                Replace(ImageOps.Crop(current, (int)(Uniform(key, "crop top") * (h - CropHeight + 1)), (int)(Uniform(key, "crop left") * (w - CropWidth + 1)), CropHeight, CropWidth));
            }
            if (FlipHorizontal && Uniform(key, "flip horizontal") < 0.5) Replace(ImageOps.FlipHorizontal(current));
            if (FlipVertical && Uniform(key, "flip vertical") < 0.5) Replace(ImageOps.FlipVertical(current));
            if (Rotation > 0 || Zoom > 0 || Translation > 0)
            {
                double angle = Symmetric(key, "rotation", Rotation) * 2 * Math.PI;
                Replace(ImageOps.Affine(current, angle, Symmetric(key, "zoom", Zoom), Symmetric(key, "shift x", Translation), Symmetric(key, "shift y", Translation)));
            }
            if (Brightness > 0) Replace(ImageOps.AdjustBrightness(current, Symmetric(key, "brightness", Brightness)));
            if (Contrast > 0) Replace(ImageOps.AdjustContrast(current, 1 + Symmetric(key, "contrast", Contrast)));
            return current;
        }
        catch
        {
            current.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A batch [N, C, H, W] augmented, image i with the draws of <c>keys(i)</c>: the same images
    /// <see cref="Apply"/> gives one by one with those keys, computed as one batched operation per
    /// step (much faster for small images).
    /// </summary>
    public Tensor ApplyBatch(Tensor images, Func<long, RandomKey> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (ImageOps.ChannelDim(images, nameof(images)) != 1)
            throw new ArgumentException($"ApplyBatch takes a batch [batch, channels, height, width]; got shape [{string.Join(", ", images.shape)}].", nameof(images));
        long n = images.shape[0];
        if (n == 0) return images.clone();
        var key = Enumerable.Range(0, (int)n).Select(i => keys(i)).ToArray();
        using var scope = NewDisposeScope();
        var current = images;
        if (CropHeight > 0)
        {
            long h = current.shape[2], w = current.shape[3];
            if (h < CropHeight || w < CropWidth) throw new ArgumentException($"A {CropHeight} x {CropWidth} random crop does not fit a {h} x {w} image.", nameof(images));
            current = torch.stack(key.Select((k, i) => current[i].narrow(1, (long)(Uniform(k, "crop top") * (h - CropHeight + 1)), CropHeight)
                .narrow(2, (long)(Uniform(k, "crop left") * (w - CropWidth + 1)), CropWidth)));
        }
        Tensor Mask(string draw) => torch.tensor(key.Select(k => Uniform(k, draw) < 0.5).ToArray(), device: images.device).view(n, 1, 1, 1);
        if (FlipHorizontal) current = torch.where(Mask("flip horizontal"), current.flip(-1), current);
        if (FlipVertical) current = torch.where(Mask("flip vertical"), current.flip(-2), current);
        if (Rotation > 0 || Zoom > 0 || Translation > 0)
        {
            long height = current.shape[2], width = current.shape[3];
            var theta = key.SelectMany(k => ImageOps.AffineRow(Symmetric(k, "rotation", Rotation) * 2 * Math.PI, Symmetric(k, "zoom", Zoom),
                Symmetric(k, "shift x", Translation), Symmetric(k, "shift y", Translation), height, width)).ToArray();
            var grid = nn.functional.affine_grid(torch.tensor(theta, [n, 2, 3]).to(current.device).to_type(current.dtype), current.shape, align_corners: false);
            current = nn.functional.grid_sample(current, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Reflection, align_corners: false);
        }
        Tensor PerImage(Func<RandomKey, double> draw) => torch.tensor(key.Select(k => (float)draw(k)).ToArray(), device: current.device).to_type(current.dtype).view(n, 1, 1, 1);
        if (Brightness > 0) current = current.add(PerImage(k => Symmetric(k, "brightness", Brightness))).clamp(0, 1);
        if (Contrast > 0)
        {
            var mean = current.mean([-2L, -1L], keepdim: true);
            current = current.sub(mean).mul(PerImage(k => 1 + Symmetric(k, "contrast", Contrast))).add(mean).clamp(0, 1);
        }
        return (ReferenceEquals(current, images) ? images.clone() : current.contiguous()).MoveToOuterDisposeScope();
    }

    /// <summary>Uniform in [0, 1), a function of the key and the draw's name only.</summary>
    static double Uniform(RandomKey key, string draw) => (key.Fold(draw).Value >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [-range, range].</summary>
    static double Symmetric(RandomKey key, string draw, double range) => range == 0 ? 0 : (2 * Uniform(key, draw) - 1) * range;
}
