using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// <c>activation(x W + b)</c> over the last axis: input (batch, ..., in) to (batch, ..., units).
/// Parameters: "kernel" (in, units) and "bias" (units).
/// </summary>
[LayerKind("dense")]
public sealed class Dense(
    long units, ActivationFunction? activation = null, bool useBias = true,
    Initializer? kernelInitializer = null, Initializer? biasInitializer = null, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>Output features.</summary>
    public long Units { get; } = units > 0 ? units : throw new ArgumentOutOfRangeException(nameof(units), units, "Dense needs at least one unit.");

    /// <summary>Applied to the affine output (linear by default).</summary>
    public ActivationFunction Activation { get; } = activation ?? ActivationFunction.Linear;

    /// <summary>Whether there is a bias.</summary>
    public bool UseBias { get; } = useBias;

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "units", Units }, { "activation", Activation }, { "use_bias", UseBias } };

    /// <summary>The layer a configuration describes (initialisers are not saved).</summary>
    public static Dense FromConfig(LayerConfig config, string? name) =>
        new(config.Long("units"), config.Activation("activation"), config.Bool("use_bias"), name: name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape)
    {
        if (inputShape.Length == 0) throw ShapeError("(batch, ..., features)", inputShape);
        return [.. inputShape[..^1], Units];
    }

    /// <inheritdoc/>
    protected override Variables Initialize(torch.Generator rng, long[] inputShape)
    {
        OutputShape(inputShape);
        long fanIn = inputShape[^1];
        var kernel = (kernelInitializer ?? Initializers.GlorotUniform)(rng, [fanIn, Units], fanIn, Units);
        var parameters = UseBias
            ? TensorTree.Of(("kernel", kernel), ("bias", (biasInitializer ?? Initializers.Zeros)(rng, [Units], fanIn, Units)))
            : TensorTree.Of(("kernel", kernel));
        return new Variables(parameters, TensorTree.Empty);
    }

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        long features = RequireVariable(variables.Params, "kernel", -1, Units).shape[0];
        if (UseBias) RequireVariable(variables.Params, "bias", Units);
        if (input.dim() < 2 || input.shape[^1] != features)
            throw ShapeError($"(batch, ..., {features})", input.shape[1..]);
    }

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        var p = variables.Params;
        // addmm with the (in, units) kernel as it is: its gradient comes out in the kernel's
        // own layout, so autograd does not copy it to match (as a transposed view would need).
        var y = !UseBias ? input.matmul(p["kernel"])
            : input.dim() == 2 ? torch.addmm(p["bias"], input, p["kernel"], beta: 1, alpha: 1)
            : input.matmul(p["kernel"]).add_(p["bias"]);
        return (Activation.Invoke(y), variables.State);
    }

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Activation(Activation, graph.Affine("dense", input, variables.Params["kernel"], UseBias ? variables.Params["bias"] : null, matrix: inputShape.Length == 1));
}
