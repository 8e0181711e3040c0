using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Datasets;

/// <summary>
/// The 10,000 MNIST digits shipped in the repository (data/mnist, MIT-licensed, shuffled):
/// images as float32 (N, 1, 28, 28) in [0, 1], labels as int64 (N).
/// </summary>
public static class Mnist
{
    /// <summary>Loads images and labels from <paramref name="folder"/> (images-idx3-ubyte.gz, labels-idx1-ubyte.gz).</summary>
    public static (Tensor Images, Tensor Labels) Load(string folder)
    {
        using var pixels = Idx.Read(Path.Combine(folder, "images-idx3-ubyte.gz"));
        using var labels = Idx.Read(Path.Combine(folder, "labels-idx1-ubyte.gz"));
        if (pixels.dim() != 3 || labels.dim() != 1 || pixels.shape[0] != labels.shape[0])
            throw new InvalidDataException(
                $"{folder}: images ({string.Join(", ", pixels.shape)}) and labels ({string.Join(", ", labels.shape)}) do not match.");
        return ((pixels.to_type(ScalarType.Float32) / 255).unsqueeze(1), labels.to_type(ScalarType.Int64));
    }

    /// <summary>The data/mnist folder of the repository, found above <paramref name="start"/>
    /// (the current directory by default).</summary>
    public static string FindFolder(string? start = null)
    {
        for (var dir = new DirectoryInfo(start ?? Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "data", "mnist");
            if (File.Exists(Path.Combine(candidate, "images-idx3-ubyte.gz"))) return candidate;
        }
        throw new DirectoryNotFoundException($"No data/mnist folder with images-idx3-ubyte.gz above {start ?? Directory.GetCurrentDirectory()}.");
    }
}
