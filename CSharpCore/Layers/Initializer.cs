using Functional.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>Makes a fresh parameter tensor of <paramref name="shape"/> from <paramref name="rng"/>;
/// <paramref name="fanIn"/> and <paramref name="fanOut"/> scale the variance-preserving ones.</summary>
public delegate Tensor Initializer(torch.Generator rng, long[] shape, long fanIn, long fanOut);

/// <summary>The usual initialisers (float32). Each checks the shape with
/// <see cref="TensorAllocation.Check"/> before libtorch allocates it.</summary>
public static class Initializers
{
    /// <summary>Uniform in ±sqrt(6 / (fanIn + fanOut)) (Glorot / Xavier): Keras's default for kernels.</summary>
    public static Initializer GlorotUniform { get; } = (rng, shape, fanIn, fanOut) =>
        Uniform(rng, shape, Math.Sqrt(6.0 / (fanIn + fanOut)));

    /// <summary>Normal with std sqrt(2 / fanIn) (He / Kaiming): for ReLU networks.</summary>
    public static Initializer HeNormal { get; } = (rng, shape, fanIn, _) => Gaussian(rng, shape, Math.Sqrt(2.0 / fanIn));

    /// <summary>Uniform in ±sqrt(6 / fanIn) (He / Kaiming uniform).</summary>
    public static Initializer HeUniform { get; } = (rng, shape, fanIn, _) => Uniform(rng, shape, Math.Sqrt(6.0 / fanIn));

    /// <summary>Zeros: the default for biases.</summary>
    public static Initializer Zeros { get; } = (_, shape, _, _) => Filled(shape, 0);

    /// <summary>Ones: the default for normalisation scales.</summary>
    public static Initializer Ones { get; } = (_, shape, _, _) => Filled(shape, 1);

    /// <summary>Normal with the given standard deviation.</summary>
    public static Initializer Normal(double std) => (rng, shape, _, _) => Gaussian(rng, shape, std);

    /// <summary>Uniform in ±<paramref name="limit"/>.</summary>
    public static Initializer UniformIn(double limit) => (rng, shape, _, _) => Uniform(rng, shape, limit);

    /// <summary>A float32 tensor of <paramref name="shape"/> filled with <paramref name="value"/>, shape checked.</summary>
    public static Tensor Filled(long[] shape, double value)
    {
        TensorAllocation.Check(shape, ScalarType.Float32, "parameter");
        return TensorAllocation.ShapesOnly ? torch.empty(shape) : torch.full(shape, value, dtype: ScalarType.Float32);
    }

    static Tensor Uniform(torch.Generator rng, long[] shape, double limit)
    {
        TensorAllocation.Check(shape, ScalarType.Float32, "parameter");
        return TensorAllocation.ShapesOnly ? torch.empty(shape) : torch.rand(shape, generator: rng) * (2 * limit) - limit;
    }

    static Tensor Gaussian(torch.Generator rng, long[] shape, double std)
    {
        TensorAllocation.Check(shape, ScalarType.Float32, "parameter");
        return TensorAllocation.ShapesOnly ? torch.empty(shape) : torch.randn(shape, generator: rng) * std;
    }
}
