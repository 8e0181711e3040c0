using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Datasets;

/// <summary>
/// 10,000 real MNIST digits (data/mnist in the repository, MIT-licensed, shuffled; 1.6 MB, built
/// into this assembly, so they load anywhere without a download): images as float32
/// (N, 1, 28, 28) in [0, 1], labels as int64 (N).
/// </summary>
public static class Mnist
{
    const string ImagesFile = "images-idx3-ubyte.gz", LabelsFile = "labels-idx1-ubyte.gz";

    /// <summary>Loads the 10,000 digits built into this assembly.</summary>
    public static (Tensor Images, Tensor Labels) Load()
    {
        using var images = Resource(ImagesFile);
        using var labels = Resource(LabelsFile);
        return FromIdx(Idx.Read(images, $"the built-in MNIST {ImagesFile}", compressed: true),
            Idx.Read(labels, $"the built-in MNIST {LabelsFile}", compressed: true), "the built-in MNIST digits");
    }

    /// <summary>Loads images and labels from <paramref name="folder"/> (images-idx3-ubyte.gz, labels-idx1-ubyte.gz).</summary>
    public static (Tensor Images, Tensor Labels) Load(string folder) =>
        FromIdx(Idx.Read(Path.Combine(folder, ImagesFile)), Idx.Read(Path.Combine(folder, LabelsFile)), folder);

    static Stream Resource(string file) =>
        typeof(Mnist).Assembly.GetManifestResourceStream($"Functional.Datasets.Mnist.{file}")
        ?? throw new InvalidOperationException($"The MNIST resource {file} is missing from {typeof(Mnist).Assembly.GetName().Name}.");

    static (Tensor Images, Tensor Labels) FromIdx(Tensor pixelBytes, Tensor labelBytes, string source)
    {
        using var pixels = pixelBytes;
        using var labels = labelBytes;
        if (pixels.dim() != 3 || labels.dim() != 1 || pixels.shape[0] != labels.shape[0])
            throw new InvalidDataException(
                $"{source}: images ({string.Join(", ", pixels.shape)}) and labels ({string.Join(", ", labels.shape)}) do not match.");
        using var scope = torch.NewDisposeScope();
        var images = (pixels.to_type(ScalarType.Float32) / 255).unsqueeze(1);
        return (images.MoveToOuterDisposeScope(), labels.to_type(ScalarType.Int64).MoveToOuterDisposeScope());
    }
}
