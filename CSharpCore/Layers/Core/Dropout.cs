using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// In training, zeroes each element with probability <see cref="Rate"/> and scales the rest by
/// 1 / (1 - rate); in inference, the identity. The mask is a function of the context's key (folded
/// with this layer's path by its containers): the same key gives the same mask. In exact
/// data-parallel training each rank keeps its rows of the global batch's mask.
/// </summary>
[LayerKind("dropout")]
public sealed class Dropout(double rate, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>The probability of dropping an element, in [0, 1).</summary>
    public double Rate { get; } = rate is >= 0 and < 1 ? rate : throw new ArgumentOutOfRangeException(nameof(rate), rate, "Dropout rate must be in [0, 1).");

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "rate", Rate } };

    /// <summary>The layer a configuration describes.</summary>
    public static Dropout FromConfig(LayerConfig config, string? name) =>
        new(config.Double("rate"), name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) => inputShape;

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        if (!context.Training || Rate == 0) return (input, variables.State);
        var key = context.Key ?? throw new ArgumentException(
            $"Layer '{Name}' (dropout) needs a random key in training: pass ApplyContext.Train(key).");
        double keep = 1 - Rate;
        using var rng = key.NewGenerator();
        // Exact data parallelism: the mask of the global batch, cut to this rank's rows.
        var shape = input.shape;
        bool share = context.Share is { } s && input.dim() > 0 && s.Rows == shape[0] && s.GlobalRows != s.Rows;
        if (share) shape[0] = context.Share!.GlobalRows;
        using var draw = torch.rand(shape, generator: rng, dtype: input.dtype, device: input.device);
        using var rows = share ? draw.narrow(0, context.Share!.Offset, input.shape[0]) : draw.alias();
        using var mask = rows.lt(keep);
        return (input * mask / keep, variables.State);
    }

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Node("Identity", "dropout", [input]);
}
