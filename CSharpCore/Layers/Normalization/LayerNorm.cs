using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>Layer normalisation over the last axis, with "scale" and "offset" parameters.</summary>
[LayerKind("layer_norm")]
public sealed class LayerNorm(double epsilon = 1e-5, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>Added to the variance.</summary>
    public double Epsilon { get; } = epsilon > 0 ? epsilon : throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be positive.");

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "epsilon", Epsilon } };

    /// <summary>The layer a configuration describes.</summary>
    public static LayerNorm FromConfig(LayerConfig config, string? name) =>
        new(config.Double("epsilon"), name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length >= 1 ? inputShape : throw ShapeError("(batch, ..., features)", inputShape);

    /// <inheritdoc/>
    protected override Variables Initialize(torch.Generator rng, long[] inputShape)
    {
        long features = OutputShape(inputShape)[^1];
        return new Variables(TensorTree.Of(("scale", Initializers.Filled([features], 1)), ("offset", Initializers.Filled([features], 0))), TensorTree.Empty);
    }

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        long features = variables.Params["scale"].shape[0];
        if (input.dim() < 2 || input.shape[^1] != features)
            throw ShapeError($"(batch, ..., {features})", input.shape[1..]);
    }

    /// <summary>Statistics in float32 under a mixed policy; the output in the input's dtype.</summary>
    protected override MixedPrecision UnderMixedPrecision => MixedPrecision.Float32;

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (torch.nn.functional.layer_norm(input, [input.shape[^1]], variables.Params["scale"], variables.Params["offset"], Epsilon),
         variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Node("LayerNormalization", "layer_norm",
            [input, graph.Constant("scale", variables.Params["scale"]), graph.Constant("offset", variables.Params["offset"])],
            OnnxGraph.Int("axis", -1), OnnxGraph.Float("epsilon", Epsilon));
}
