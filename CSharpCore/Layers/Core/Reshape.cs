using Functional.Export;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>Reshapes each example to <see cref="TargetShape"/> (one entry may be -1).</summary>
[LayerKind("reshape")]
public sealed class Reshape(long[] targetShape, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>The per-example output shape; -1 is inferred.</summary>
    public long[] TargetShape { get; } = targetShape.Count(d => d == -1) <= 1 && targetShape.All(d => d == -1 || d > 0)
        ? targetShape
        : throw new ArgumentException($"Reshape target {ShapeException.Format(targetShape)} may have one -1 and otherwise positive sizes.", nameof(targetShape));

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "target_shape", TargetShape } };

    /// <summary>The layer a configuration describes.</summary>
    public static Reshape FromConfig(LayerConfig config, string? name) =>
        new(config.Longs("target_shape"), name);

    /// <inheritdoc/>
    protected override InputDtypes Accepts => InputDtypes.Any;

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape)
    {
        long total = inputShape.Aggregate(1L, (a, b) => a * b);
        long known = TargetShape.Where(d => d != -1).Aggregate(1L, (a, b) => a * b);
        bool infer = TargetShape.Contains(-1);
        if (infer ? total % known != 0 : total != known)
            throw ShapeError($"with {(infer ? "a multiple of " : "")}{known} elements per example (to reshape to {ShapeException.Format(TargetShape)})", inputShape);
        return [.. TargetShape.Select(d => d == -1 ? total / known : d)];
    }

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (input.reshape([input.shape[0], .. TargetShape]), variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Node("Reshape", "reshape", [input, graph.Constant("shape", [0L, .. OutputShape(inputShape)])]);
}
