using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>A named element-wise (or last-axis) function: what <see cref="Activation"/> and the
/// <c>activation</c> argument of layers take. The name is how a saved model refers to it.</summary>
public sealed class ActivationFunction
{
    readonly Func<Tensor, Tensor> apply;

    /// <summary>A custom activation.</summary>
    public ActivationFunction(string name, Func<Tensor, Tensor> apply)
    {
        Name = name;
        this.apply = apply;
    }

    /// <summary>Its name, e.g. "relu".</summary>
    public string Name { get; }

    /// <summary>Applies it.</summary>
    public Tensor Invoke(Tensor x) => apply(x);

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>Identity.</summary>
    public static ActivationFunction Linear { get; } = new("linear", x => x);
    /// <summary>max(x, 0).</summary>
    public static ActivationFunction Relu { get; } = new("relu", x => torch.nn.functional.relu(x));
    /// <summary>Gaussian error linear unit (exact form).</summary>
    public static ActivationFunction Gelu { get; } = new("gelu", x => torch.nn.functional.gelu(x));
    /// <summary>x * sigmoid(x) (swish).</summary>
    public static ActivationFunction Silu { get; } = new("silu", x => torch.nn.functional.silu(x));
    /// <summary>Hyperbolic tangent.</summary>
    public static ActivationFunction Tanh { get; } = new("tanh", x => x.tanh());
    /// <summary>1 / (1 + exp(-x)).</summary>
    public static ActivationFunction Sigmoid { get; } = new("sigmoid", x => x.sigmoid());
    /// <summary>Softmax over the last axis; in float32 for 16-bit inputs (mixed precision).</summary>
    public static ActivationFunction Softmax { get; } = new("softmax", x => PrecisionPolicy.InFloat32(x).softmax(-1));
    /// <summary>Log-softmax over the last axis; in float32 for 16-bit inputs.</summary>
    public static ActivationFunction LogSoftmax { get; } = new("log_softmax", x => PrecisionPolicy.InFloat32(x).log_softmax(-1));

    /// <summary>The built-in activations by name.</summary>
    public static IReadOnlyDictionary<string, ActivationFunction> BuiltIn { get; } =
        new[] { Linear, Relu, Gelu, Silu, Tanh, Sigmoid, Softmax, LogSoftmax }.ToDictionary(a => a.Name);
}
