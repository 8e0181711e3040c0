using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Optimizers;

/// <summary>
/// The small gradient transformations optimizers are built from (Optax's <c>scale_by_*</c>,
/// <c>clip_*</c>, <c>add_decayed_weights</c>, <c>chain</c>). Each is pure: state in, state out.
/// </summary>
public static class Transform
{
    /// <summary>Applies transformations in order; the state is a tree with one sub-tree per link ("0", "1", ...).</summary>
    public static GradientTransformation Chain(params GradientTransformation[] links)
    {
        if (links.Length == 0) throw new ArgumentException("Chain needs at least one transformation.", nameof(links));
        return new(
            parameters => TensorTree.Node([.. links.Select((t, i) => (i.ToString(), t.Init(parameters)))]),
            (gradients, state, parameters) =>
            {
                var updates = gradients;
                var states = new (string, TensorTree)[links.Length];
                for (int i = 0; i < links.Length; i++)
                {
                    var key = i.ToString();
                    (updates, var s) = links[i].Update(updates, state.Select(key), parameters);
                    states[i] = (key, s);
                }
                return (updates, TensorTree.Node(states));
            });
    }

    /// <summary>Multiplies updates by -schedule(step): the last link of every optimizer.</summary>
    public static GradientTransformation ScaleByLearningRate(Schedule learningRate) => new(
        _ => Count().Prefix("count"),
        (g, state, _) =>
        {
            long step = state["count"].item<long>();
            double lr = learningRate(step);
            return (g.Map(t => t * -lr), Count(step + 1).Prefix("count"));
        });

    /// <summary>Multiplies updates by a constant.</summary>
    public static GradientTransformation Scale(double factor) => new(_ => TensorTree.Empty, (g, state, _) => (g.Map(t => t * factor), state));

    /// <summary>Momentum: trace = decay * trace + g; the update is the trace, or with Nesterov
    /// g + decay * trace.</summary>
    public static GradientTransformation Trace(double decay, bool nesterov = false) => new(
        p => p.Map(ZerosLike).Prefix("trace"),
        (g, state, _) =>
        {
            var trace = state.Select("trace").Zip(g, (t, gi) => t * decay + gi);
            var updates = nesterov ? g.Zip(trace, (gi, t) => gi + decay * t) : trace;
            return (updates, trace.Prefix("trace"));
        });

    /// <summary>Adam's rescaling: bias-corrected first moment over the root of the bias-corrected
    /// second moment plus <paramref name="epsilon"/>.</summary>
    public static GradientTransformation ScaleByAdam(double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) => new(
        p => TensorTree.Node(("mu", p.Map(ZerosLike)), ("nu", p.Map(ZerosLike)), ("count", Count())),
        (g, state, _) =>
        {
            long t = state["count"].item<long>() + 1;
            var mu = state.Select("mu").Zip(g, (m, gi) => m * beta1 + gi * (1 - beta1));
            var nu = state.Select("nu").Zip(g, (v, gi) => v * beta2 + gi.square() * (1 - beta2));
            double c1 = 1 - Math.Pow(beta1, t), c2 = 1 - Math.Pow(beta2, t);
            var updates = mu.Zip(nu, (m, v) => m / c1 / ((v / c2).sqrt() + epsilon));
            return (updates, TensorTree.Node(("mu", mu), ("nu", nu), ("count", Count(t))));
        });

    /// <summary>RMSProp's rescaling: g / (sqrt(nu) + epsilon), nu = decay * nu + (1 - decay) g^2.</summary>
    public static GradientTransformation ScaleByRms(double decay = 0.9, double epsilon = 1e-7) => new(
        p => p.Map(ZerosLike).Prefix("nu"),
        (g, state, _) =>
        {
            var nu = state.Select("nu").Zip(g, (v, gi) => v * decay + gi.square() * (1 - decay));
            return (g.Zip(nu, (gi, v) => gi / (v.sqrt() + epsilon)), nu.Prefix("nu"));
        });

    /// <summary>Adagrad's rescaling: g / (sqrt(sum of g^2) + epsilon), the sum starting at
    /// <paramref name="initialAccumulator"/>.</summary>
    public static GradientTransformation ScaleByRss(double initialAccumulator = 0.1, double epsilon = 1e-7) => new(
        p => p.Map(t => torch.full_like(t, initialAccumulator)).Prefix("sum"),
        (g, state, _) =>
        {
            var sum = state.Select("sum").Zip(g, (s, gi) => s + gi.square());
            return (g.Zip(sum, (gi, s) => gi / (s.sqrt() + epsilon)), sum.Prefix("sum"));
        });

    /// <summary>Adds <paramref name="weightDecay"/> * parameters to the updates (decoupled weight
    /// decay when placed before the learning rate, as in AdamW). Only leaves whose path
    /// satisfies <paramref name="mask"/> decay (all by default).</summary>
    public static GradientTransformation AddDecayedWeights(double weightDecay, Func<string, bool>? mask = null) => new(
        _ => TensorTree.Empty,
        (g, state, parameters) =>
        {
            if (parameters is null) throw new ArgumentNullException(nameof(parameters), "AddDecayedWeights needs the parameters.");
            return (g.Zip(parameters, (path, gi, p) => mask is null || mask(path) ? gi + weightDecay * p : gi), state);
        });

    /// <summary>Scales all updates together so their global L2 norm is at most <paramref name="maxNorm"/>.</summary>
    public static GradientTransformation ClipByGlobalNorm(double maxNorm) => maxNorm > 0
        ? new(_ => TensorTree.Empty, (g, state, _) =>
        {
            double norm = GlobalNorm(g);
            return norm <= maxNorm ? (g, state) : (g.Map(t => t * (maxNorm / norm)), state);
        })
        : throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "maxNorm must be positive.");

    /// <summary>Clips every element of the updates to [-<paramref name="maxAbs"/>, <paramref name="maxAbs"/>].</summary>
    public static GradientTransformation ClipByValue(double maxAbs) => maxAbs > 0
        ? new(_ => TensorTree.Empty, (g, state, _) => (g.Map(t => t.clamp(-maxAbs, maxAbs)), state))
        : throw new ArgumentOutOfRangeException(nameof(maxAbs), maxAbs, "maxAbs must be positive.");

    /// <summary>The L2 norm of all leaves together.</summary>
    public static double GlobalNorm(TensorTree tree) =>
        Math.Sqrt(tree.Leaves.Sum(t => t.detach().to_type(ScalarType.Float64).square().sum().item<double>()));

    static Tensor ZerosLike(Tensor t) => torch.zeros_like(t);

    static TensorTree Count(long value = 0) => TensorTree.Leaf(torch.tensor(value));
}
