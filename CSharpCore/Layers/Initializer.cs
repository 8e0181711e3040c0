using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>Makes a fresh parameter tensor of <paramref name="shape"/> from <paramref name="rng"/>;
/// <paramref name="fanIn"/> and <paramref name="fanOut"/> scale the variance-preserving ones.</summary>
public delegate Tensor Initializer(torch.Generator rng, long[] shape, long fanIn, long fanOut);

/// <summary>The usual initialisers (float32).</summary>
public static class Initializers
{
    /// <summary>Uniform in ±sqrt(6 / (fanIn + fanOut)) (Glorot / Xavier): Keras's default for kernels.</summary>
    public static Initializer GlorotUniform { get; } = (rng, shape, fanIn, fanOut) =>
        Uniform(rng, shape, Math.Sqrt(6.0 / (fanIn + fanOut)));

    /// <summary>Normal with std sqrt(2 / fanIn) (He / Kaiming): for ReLU networks.</summary>
    public static Initializer HeNormal { get; } = (rng, shape, fanIn, _) =>
        torch.randn(shape, generator: rng) * Math.Sqrt(2.0 / fanIn);

    /// <summary>Uniform in ±sqrt(6 / fanIn) (He / Kaiming uniform).</summary>
    public static Initializer HeUniform { get; } = (rng, shape, fanIn, _) => Uniform(rng, shape, Math.Sqrt(6.0 / fanIn));

    /// <summary>Zeros: the default for biases.</summary>
    public static Initializer Zeros { get; } = (_, shape, _, _) => torch.zeros(shape);

    /// <summary>Ones: the default for normalisation scales.</summary>
    public static Initializer Ones { get; } = (_, shape, _, _) => torch.ones(shape);

    /// <summary>Normal with the given standard deviation.</summary>
    public static Initializer Normal(double std) => (rng, shape, _, _) => torch.randn(shape, generator: rng) * std;

    static Tensor Uniform(torch.Generator rng, long[] shape, double limit) =>
        torch.rand(shape, generator: rng) * (2 * limit) - limit;
}
