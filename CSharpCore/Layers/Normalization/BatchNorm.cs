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
public sealed class BatchNorm(double momentum = 0.99, double epsilon = 1e-3, string? name = null) : Layer(name)
{
    /// <summary>Weight of the old running statistics.</summary>
    public double Momentum { get; } = momentum is >= 0 and < 1 ? momentum : throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1).");

    /// <summary>Added to the variance.</summary>
    public double Epsilon { get; } = epsilon > 0 ? epsilon : throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be positive.");

    /// <inheritdoc/>
    public override string Kind => "batch_norm";

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length >= 1 ? inputShape : throw ShapeError("(batch, features, ...)", inputShape);

    /// <inheritdoc/>
    public override Variables Init(torch.Generator rng, long[] inputShape)
    {
        long features = OutputShape(inputShape)[0];
        return new Variables(
            TensorTree.Of(("scale", torch.ones(features)), ("offset", torch.zeros(features))),
            TensorTree.Of(("mean", torch.zeros(features)), ("variance", torch.ones(features))));
    }

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        RequireFloatingPoint(input);
        long features = variables.Params["scale"].shape[0];
        if (input.dim() < 2 || input.shape[1] != features)
            throw ShapeError($"(batch, {features}, ...)", input.shape[1..]);
        if (input.shape[0] < 2 && input.dim() == 2)
            throw new ShapeException($"Layer '{Name}' (batch_norm) needs more than one value per feature to compute batch statistics; got a batch of 1.");
    }

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
            mean = input.mean(axes);
            variance = input.var(axes, unbiased: false);
            using (torch.no_grad())
            {
                long count = input.numel() / input.shape[1];
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
}
