using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Streams;

/// <summary>An image file and its class: the index of its sub-folder among the sorted sub-folder names.</summary>
public sealed record ImageFile(string Path, long Label);

public static partial class DataStream
{
    /// <summary>
    /// The image files under <paramref name="root"/>, one sub-folder per class
    /// ("root/cat/1.png" has the label of "cat" among the sorted sub-folder names, see
    /// <see cref="ImageClasses"/>), in a fixed order. Decode them with
    /// <see cref="ImageFolder"/>, or map them yourself.
    /// </summary>
    public static DataStream<ImageFile> ImageFiles(string root)
    {
        var classes = ImageClasses(root);
        var files = classes.SelectMany((name, label) => Directory.GetFiles(System.IO.Path.Combine(root, name))
            .Order(StringComparer.Ordinal).Select(path => new ImageFile(path, label))).ToArray();
        return new DataStream<ImageFile>($"image files({System.IO.Path.GetFileName(System.IO.Path.GetFullPath(root))})",
            (_, _) => files.Select((f, i) => new Sourced<ImageFile>(f, new Origin(f.Path, 0))));
    }

    /// <summary>The class names under <paramref name="root"/> (its sub-folders, sorted): label i is the i-th name.</summary>
    public static IReadOnlyList<string> ImageClasses(string root)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"No image folder at '{root}'.");
        var classes = Directory.GetDirectories(root).Select(d => System.IO.Path.GetFileName(d)).Order(StringComparer.Ordinal).ToArray();
        if (classes.Length == 0) throw new ArgumentException($"The image folder '{root}' has no class sub-folders.", nameof(root));
        return classes;
    }

    /// <summary>
    /// A folder of images as (image, label) pairs: each file decoded with ImageSharp (PNG, JPEG,
    /// BMP, GIF, ...), resized to <paramref name="width"/> x <paramref name="height"/>, as a
    /// float32 tensor [channels, height, width] in [0, 1] (<paramref name="channels"/> 1: gray by
    /// <see cref="Functional.Images.ImageOps.LumaWeights"/>, 3: RGB); the label as an int64
    /// scalar. Decoding runs <paramref name="parallelism"/> files at once, in order. A file that
    /// does not decode is an error naming it, or, with <see cref="BadImagePolicy.Skip"/>, left
    /// out and counted (the "skip bad images" stage's Dropped counter;
    /// <paramref name="onSkipped"/> hears each one). Batch with <c>.Batch(n).Stack()</c>.
    /// </summary>
    public static DataStream<(Tensor Image, Tensor Label)> ImageFolder(string root, int width, int height, int channels = 3,
        int parallelism = Parallelism.Auto, BadImagePolicy badImages = BadImagePolicy.Fail, Action<string, Exception>? onSkipped = null) =>
        ImageFiles(root).DecodeImages(width, height, channels, parallelism, badImages, onSkipped);

    /// <summary>One image file as a float32 tensor [channels, height, width] in [0, 1] (gray by
    /// <see cref="Functional.Images.ImageOps.LumaWeights"/>). A file that does not decode is an
    /// <see cref="InvalidDataException"/> naming it.</summary>
    public static Tensor DecodeImage(string path, int width, int height, int channels = 3)
    {
        RequireImageSize(width, height, channels);
        Image<Rgb24> image;
        try { image = Image.Load<Rgb24>(path); }
        catch (Exception e) when (e is not (IOException or UnauthorizedAccessException or OutOfMemoryException or OperationCanceledException)
            || e is InvalidDataException)
        {
            // Damaged files also make the decoder fail in its own code (a NullReferenceException
            // on some cut JPEGs, found by the fuzzing): every failure of decoding names the file.
            throw new InvalidDataException($"{path}: not a readable image: {e.GetType().Name}: {e.Message}", e);
        }
        using (image)
        {
            if (image.Width != width || image.Height != height) image.Mutate(x => x.Resize(width, height));
            var pixels = new byte[width * height * 3];
            image.CopyPixelDataTo(pixels);
            // Planar [c, h, w] floats in [0, 1] in one pass, gray by the luma weights: one tensor
            // made, not a chain of small tensor operations per image.
            int plane = width * height;
            var values = new float[channels * plane];
            var luma = Functional.Images.ImageOps.LumaWeights;
            float lumaR = luma[0], lumaG = luma[1], lumaB = luma[2];
            for (int i = 0; i < plane; i++)
            {
                float r = pixels[3 * i] / 255f, g = pixels[3 * i + 1] / 255f, b = pixels[3 * i + 2] / 255f;
                if (channels == 3) (values[i], values[plane + i], values[2 * plane + i]) = (r, g, b);
                else values[i] = lumaR * r + lumaG * g + lumaB * b;
            }
            return torch.tensor(values, [channels, height, width]);
        }
    }

    internal static void RequireImageSize(int width, int height, int channels)
    {
        if (width < 1 || height < 1) throw new ArgumentOutOfRangeException(nameof(width), $"Images need a size of at least 1 x 1; got {width} x {height}.");
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "Images have 1 (gray) or 3 (RGB) channels.");
    }
}
