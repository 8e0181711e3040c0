using Functional.Export;
using Functional.Images;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Keras's random image preprocessing layers: in training, each image of the batch is augmented
/// with its own draws from the context's key (folded with the layer's path by its containers,
/// then with the image's index in the (global) batch), as <see cref="ImageAugmentation"/> draws
/// them; in inference (Predict, Evaluate, ONNX export) the identity. Images are [channels,
/// height, width] floats in [0, 1] (brightness and contrast keep values there; Keras's layers
/// default to a 0-255 range). They have no variables, save with the model like any layer, and export to
/// ONNX as their inference behaviour.
/// </summary>
public abstract class RandomImageLayer(string? name) : Layer(name), IOnnxExportable
{
    /// <summary>What the layer draws in training.</summary>
    protected abstract ImageAugmentation Augmentation { get; }

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length == 3 ? [.. inputShape] : throw ShapeError("(batch, channels, height, width)", inputShape);

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        if (!context.Training) return (input, variables.State);
        var key = context.Key ?? throw new ArgumentException($"Layer '{Name}' ({Kind}) needs a random key in training: pass ApplyContext.Train(key).");
        // Exact data parallelism: row i of this rank is row offset + i of the global batch.
        long offset = context.Share is { } share && share.Rows == input.shape[0] ? share.Offset : 0;
        return (Augmentation.ApplyBatch(input, i => key.Fold(offset + i)), variables.State);
    }

    /// <inheritdoc/>
    public virtual string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Node("Identity", Kind, [input]);

    /// <summary>Checks a factor in [0, <paramref name="most"/>].</summary>
    protected static double CheckedFactor(double value, string name, double most = 1) =>
        value >= 0 && value <= most ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} is between 0 and {most}.");
}

/// <summary>Which way <see cref="RandomFlip"/> mirrors.</summary>
public enum FlipMode
{
    /// <summary>Left to right.</summary>
    Horizontal,
    /// <summary>Top to bottom.</summary>
    Vertical,
    /// <summary>Each, independently.</summary>
    HorizontalAndVertical,
}

/// <summary>Mirrors each image with probability 1/2 in training (Keras's RandomFlip).</summary>
[LayerKind("random_flip")]
public sealed class RandomFlip(FlipMode mode = FlipMode.HorizontalAndVertical, string? name = null) : RandomImageLayer(name)
{
    /// <summary>Which way it mirrors.</summary>
    public FlipMode Mode { get; } = mode;

    /// <inheritdoc/>
    protected override ImageAugmentation Augmentation => new() { FlipHorizontal = Mode != FlipMode.Vertical, FlipVertical = Mode != FlipMode.Horizontal };

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "mode", Mode } };

    /// <summary>The layer a configuration describes.</summary>
    public static RandomFlip FromConfig(LayerConfig config, string? name) => new(config.Enum<FlipMode>("mode"), name);
}

/// <summary>Rotates each image by a uniform fraction of a full turn in [-factor, factor] in training (Keras's RandomRotation).</summary>
[LayerKind("random_rotation")]
public sealed class RandomRotation(double factor, string? name = null) : RandomImageLayer(name)
{
    /// <summary>The largest fraction of a full turn.</summary>
    public double Factor { get; } = CheckedFactor(factor, nameof(factor));

    /// <inheritdoc/>
    protected override ImageAugmentation Augmentation => new() { Rotation = Factor };

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "factor", Factor } };

    /// <summary>The layer a configuration describes.</summary>
    public static RandomRotation FromConfig(LayerConfig config, string? name) => new(config.Double("factor"), name);
}

/// <summary>Zooms each image by a uniform z in [-factor, factor] in training, z &gt; 0 zooming out (Keras's RandomZoom).</summary>
[LayerKind("random_zoom")]
public sealed class RandomZoom(double factor, string? name = null) : RandomImageLayer(name)
{
    /// <summary>The largest zoom.</summary>
    public double Factor { get; } = CheckedFactor(factor, nameof(factor), 0.99);

    /// <inheritdoc/>
    protected override ImageAugmentation Augmentation => new() { Zoom = Factor };

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "factor", Factor } };

    /// <summary>The layer a configuration describes.</summary>
    public static RandomZoom FromConfig(LayerConfig config, string? name) => new(config.Double("factor"), name);
}

/// <summary>Shifts each image by uniform fractions of its size in [-factor, factor] in training (Keras's RandomTranslation).</summary>
[LayerKind("random_translation")]
public sealed class RandomTranslation(double factor, string? name = null) : RandomImageLayer(name)
{
    /// <summary>The largest shift, as a fraction of the height and width.</summary>
    public double Factor { get; } = CheckedFactor(factor, nameof(factor));

    /// <inheritdoc/>
    protected override ImageAugmentation Augmentation => new() { Translation = Factor };

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "factor", Factor } };

    /// <summary>The layer a configuration describes.</summary>
    public static RandomTranslation FromConfig(LayerConfig config, string? name) => new(config.Double("factor"), name);
}

/// <summary>Scales each image's contrast by a uniform factor in [1 - factor, 1 + factor] in training (Keras's RandomContrast).</summary>
[LayerKind("random_contrast")]
public sealed class RandomContrast(double factor, string? name = null) : RandomImageLayer(name)
{
    /// <summary>The largest change of contrast.</summary>
    public double Factor { get; } = CheckedFactor(factor, nameof(factor));

    /// <inheritdoc/>
    protected override ImageAugmentation Augmentation => new() { Contrast = Factor };

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "factor", Factor } };

    /// <summary>The layer a configuration describes.</summary>
    public static RandomContrast FromConfig(LayerConfig config, string? name) => new(config.Double("factor"), name);
}

/// <summary>Adds a uniform delta in [-factor, factor] to each image in training, kept in [0, 1] (Keras's RandomBrightness).</summary>
[LayerKind("random_brightness")]
public sealed class RandomBrightness(double factor, string? name = null) : RandomImageLayer(name)
{
    /// <summary>The largest change of brightness.</summary>
    public double Factor { get; } = CheckedFactor(factor, nameof(factor));

    /// <inheritdoc/>
    protected override ImageAugmentation Augmentation => new() { Brightness = Factor };

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "factor", Factor } };

    /// <summary>The layer a configuration describes.</summary>
    public static RandomBrightness FromConfig(LayerConfig config, string? name) => new(config.Double("factor"), name);
}

/// <summary>
/// Crops a random <see cref="Height"/> x <see cref="Width"/> window of each image in training and
/// the central one in inference (an image smaller than the window is resized first, keeping its
/// aspect ratio, as <see cref="CenterCrop"/> does). Keras's RandomCrop differs in inference: it
/// resizes the largest central window of the target's aspect ratio to the target size.
/// </summary>
[LayerKind("random_crop")]
public sealed class RandomCrop(long height, long width, string? name = null) : RandomImageLayer(name)
{
    /// <summary>The window's height.</summary>
    public long Height { get; } = height is > 0 and <= int.MaxValue ? height : throw new ArgumentOutOfRangeException(nameof(height), height, "height must be positive.");

    /// <summary>The window's width.</summary>
    public long Width { get; } = width is > 0 and <= int.MaxValue ? width : throw new ArgumentOutOfRangeException(nameof(width), width, "width must be positive.");

    /// <inheritdoc/>
    protected override ImageAugmentation Augmentation => new() { CropHeight = (int)Height, CropWidth = (int)Width };

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "height", Height }, { "width", Width } };

    /// <summary>The layer a configuration describes.</summary>
    public static RandomCrop FromConfig(LayerConfig config, string? name) => new(config.Long("height"), config.Long("width"), name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length == 3 ? [inputShape[0], Height, Width] : throw ShapeError("(batch, channels, height, width)", inputShape);

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        context.Training && input.shape[2] >= Height && input.shape[3] >= Width
            ? base.Forward(variables, input, context)
            : (ImageOps.CenterCrop(input, (int)Height, (int)Width), variables.State);

    /// <inheritdoc/>
    public override string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        CenterCrop.Onnx(graph, input, inputShape, Height, Width, Kind);
}
