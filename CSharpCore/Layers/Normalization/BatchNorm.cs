using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Batch normalisation over axis 1 (features of (batch, features), channels of (batch,
/// channels, ...)). In training it normalises with the batch's statistics and returns updated
/// running statistics as new state; in inference it uses the running statistics.
/// Parameters "scale" and "offset"; state "mean" and "variance".
/// </summary>
/// <param name="momentum">Weight of the old running value: running = momentum * running + (1 - momentum) * batch (Keras's convention).</param>
/// <param name="epsilon">Added to the variance.</param>
/// <param name="name">Layer name.</param>
[LayerKind("batch_norm")]
public sealed class BatchNorm(double momentum = 0.99, double epsilon = 1e-3, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>Weight of the old running statistics.</summary>
    public double Momentum { get; } = momentum is >= 0 and < 1 ? momentum : throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1).");

    /// <summary>Added to the variance.</summary>
    public double Epsilon { get; } = epsilon > 0 ? epsilon : throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be positive.");

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "momentum", Momentum }, { "epsilon", Epsilon } };

    /// <summary>The layer a configuration describes.</summary>
    public static BatchNorm FromConfig(LayerConfig config, string? name) =>
        new(config.Double("momentum"), config.Double("epsilon"), name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length >= 1 ? inputShape : throw ShapeError("(batch, features, ...)", inputShape);

    /// <inheritdoc/>
    protected override Variables Initialize(torch.Generator rng, long[] inputShape)
    {
        long features = OutputShape(inputShape)[0];
        return new Variables(
            TensorTree.Of(("scale", Initializers.Filled([features], 1)), ("offset", Initializers.Filled([features], 0))),
            TensorTree.Of(("mean", Initializers.Filled([features], 0)), ("variance", Initializers.Filled([features], 1))));
    }

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        long features = RequireVariable(variables.Params, "scale", -1).shape[0];
        if (input.dim() < 2 || input.shape[1] != features)
            throw ShapeError($"(batch, {features}, ...)", input.shape[1..]);
    }

    /// <summary>Statistics in float32 under a mixed policy; the output in the input's dtype.</summary>
    protected override MixedPrecision UnderMixedPrecision => MixedPrecision.Float32;

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        var (p, s) = (variables.Params, variables.State);
        long[] axes = [0, .. Enumerable.Range(2, (int)input.dim() - 2).Select(i => (long)i)];
        long[] broadcast = [1, input.shape[1], .. Enumerable.Repeat(1L, (int)input.dim() - 2)];
        Tensor mean, variance;
        TensorTree state;
        if (context.Training)
        {
            long count;
            if (context.Replicas is { Size: > 1 } replicas)
                (mean, variance, count) = SynchronisedStatistics(input, axes, broadcast, replicas);
            else
            {
                (mean, variance, count) = (input.mean(axes), input.var(axes, unbiased: false), input.numel() / input.shape[1]);
            }
            if (count < 2)
                throw new ShapeException(
                    $"Layer '{Name}' (batch_norm) needs more than one value per feature to compute batch statistics in training; received {ShapeException.Format(input.shape)}. Inference takes any batch size.");
            using (torch.no_grad())
            {
                var unbiased = variance.detach() * ((double)count / Math.Max(count - 1, 1));
                state = TensorTree.Of(
                    ("mean", s["mean"] * Momentum + mean.detach() * (1 - Momentum)),
                    ("variance", s["variance"] * Momentum + unbiased * (1 - Momentum)));
            }
        }
        else
        {
            (mean, variance, state) = (s["mean"], s["variance"], s);
        }
        var normalised = (input - mean.view(broadcast)) * (variance.view(broadcast) + Epsilon).rsqrt();
        return (normalised * p["scale"].view(broadcast) + p["offset"].view(broadcast), state);
    }

    /// <summary>The mean and (biased) variance over every rank's batch, computed in two passes
    /// as one process would, with gradients that flow to every rank's inputs; and the count.</summary>
    static (Tensor Mean, Tensor Variance, long Count) SynchronisedStatistics(Tensor input, long[] axes, long[] broadcast, Distributed.Communicator replicas)
    {
        long features = input.shape[1];
        using var localCount = torch.full([1], input.numel() / features, dtype: input.dtype);
        var sums = replicas.SumAcrossRanks(torch.cat([input.sum(axes), localCount]));
        var count = sums[features];
        long total = (long)count.to_type(ScalarType.Float64).item<double>();
        var mean = sums.narrow(0, 0, features) / count;
        var variance = replicas.SumAcrossRanks((input - mean.view(broadcast)).square().sum(axes)) / count;
        return (mean, variance, total);
    }

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Node("BatchNormalization", "batch_norm",
            [input, graph.Constant("scale", variables.Params["scale"]), graph.Constant("offset", variables.Params["offset"]),
                graph.Constant("mean", variables.State["mean"]), graph.Constant("variance", variables.State["variance"])],
            OnnxGraph.Float("epsilon", Epsilon));
}
