using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Optimizers;

/// <summary>
/// The small gradient transformations optimizers are built from (Optax's <c>scale_by_*</c>,
/// <c>clip_*</c>, <c>add_decayed_weights</c>, <c>chain</c>). Each is written in place (see
/// <see cref="GradientTransformation"/>): state and gradients are overwritten, nothing is
/// allocated per step.
/// </summary>
public static class Transform
{
    /// <summary>Applies transformations in order; the state is a tree with one sub-tree per link
    /// ("0", "1", ...). When the last link has a fused step (Adam), the chain keeps it: the
    /// earlier links transform the gradients, then the fused kernel runs (clipping + Adam is one
    /// kernel still).</summary>
    public static GradientTransformation Chain(params GradientTransformation[] links)
    {
        if (links.Length == 0) throw new ArgumentException("Chain needs at least one transformation.", nameof(links));
        var keys = links.Select((_, i) => OptimizerState.ChainKey(i)).ToArray();
        TensorTree Before(int end, TensorTree gradients, TensorTree state, TensorTree parameters)
        {
            var updates = gradients;
            for (int i = 0; i < end; i++) updates = links[i].UpdateInPlace(updates, state.Select(keys[i]), parameters);
            return updates;
        }
        return new GradientTransformation(
                parameters => TensorTree.Node([.. links.Select((t, i) => (keys[i], t.Init(parameters)))]),
                (gradients, state, parameters) => Before(links.Length, gradients, state, parameters))
        {
            FusedStep = links[^1].FusedStep is { } fused
                ? (gradients, state, parameters) => fused(Before(links.Length - 1, gradients, state, parameters), state.Select(keys[^1]), parameters)
                : null,
        };
    }

    /// <summary>
    /// Runs <paramref name="inner"/> on the leaves whose path satisfies <paramref name="mask"/>
    /// only (Optax's <c>masked</c>): its state covers those leaves, and the other leaves'
    /// gradients pass through unchanged. E.g. weight decay on kernels but not on biases and norms:
    /// <c>Masked(AddDecayedWeights(1e-4), path =&gt; path.EndsWith("kernel"))</c>.
    /// </summary>
    public static GradientTransformation Masked(GradientTransformation inner, Func<string, bool> mask)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(mask);
        TensorTree Selected(TensorTree tree) => tree.Filter((path, _) => mask(path));
        return new(
            parameters => inner.Init(Selected(parameters)),
            (gradients, state, parameters) =>
            {
                var updates = inner.UpdateInPlace(Selected(gradients), state, parameters is null ? null! : Selected(parameters));
                return gradients.WithLeaves([.. gradients.Paths.Select((path, i) => mask(path) ? updates[path] : gradients.Leaves[i])]);
            });
    }

    /// <summary>
    /// A different transformation per group of leaves (Optax's <c>multi_transform</c>):
    /// <paramref name="label"/> names each leaf's group, <paramref name="transforms"/> gives each
    /// group's transformation; the state has one sub-tree per group that has leaves. Fused steps
    /// are kept when every group's transformation has one (Adam on the encoder, frozen head).
    /// </summary>
    /// <exception cref="ArgumentException">A leaf's label has no transformation (at Init).</exception>
    public static GradientTransformation MultiTransform(IReadOnlyDictionary<string, GradientTransformation> transforms, Func<string, string> label)
    {
        ArgumentNullException.ThrowIfNull(transforms);
        ArgumentNullException.ThrowIfNull(label);
        if (transforms.Count == 0) throw new ArgumentException("MultiTransform needs at least one transformation.", nameof(transforms));
        if (transforms.FirstOrDefault(t => t.Value is null) is { Key: { } missing, Value: null })
            throw new ArgumentNullException(nameof(transforms), $"MultiTransform: the transformation for '{missing}' is null.");
        IEnumerable<(string Group, TensorTree Leaves)> Groups(TensorTree tree) =>
            transforms.Keys.Select(group => (group, tree.Filter((path, _) => label(path) == group))).Where(g => g.Item2.Count > 0);
        TensorTree Init(TensorTree parameters)
        {
            foreach (var path in parameters.Paths)
                if (!transforms.ContainsKey(label(path)))
                    throw new ArgumentException(
                        $"Parameter '{path}' is labelled '{label(path)}', which has no transformation (labels: {string.Join(", ", transforms.Keys)}).", nameof(label));
            return TensorTree.Node([.. Groups(parameters).Select(g => (g.Group, transforms[g.Group].Init(g.Leaves)))]);
        }
        bool fusable = transforms.Values.All(t => t.FusedStep is not null);
        var groups = new HashSet<string>(transforms.Keys, StringComparer.Ordinal);
        return new GradientTransformation(Init, (gradients, state, parameters) =>
        {
            RequireLayout(state, groups);
            var updates = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (group, leaves) in Groups(gradients))
            {
                var own = transforms[group].UpdateInPlace(leaves, state.Select(group), parameters?.Filter((path, _) => label(path) == group)!);
                for (int i = 0; i < own.Count; i++) updates[own.Paths[i]] = own.Leaves[i];
            }
            return gradients.WithLeaves([.. gradients.Paths.Select(path => updates[path])]);
        })
        {
            FusedStep = !fusable ? null : (gradients, state, parameters) =>
            {
                RequireLayout(state, groups);
                foreach (var (group, leaves) in Groups(gradients))
                    transforms[group].FusedStep!(leaves, state.Select(group), parameters.Filter((path, _) => label(path) == group));
            },
        };
    }

    /// <summary>An <see cref="ArgumentException"/> when a multi-transform's state was made for
    /// other groups (a state from before a Freeze, say).</summary>
    static void RequireLayout(TensorTree state, HashSet<string> groups)
    {
        foreach (var path in state.Paths)
            if (!groups.Contains(path.Split(TreePath.Separator)[0]))
                throw new ArgumentException(
                    $"The optimizer state has '{path}', which belongs to none of the groups ({string.Join(", ", groups)}): it was made for " +
                    "another optimizer layout, e.g. before parameters were frozen or unfrozen; make it again with Init.");
    }

    /// <summary>Updates of zero (Optax's <c>set_to_zero</c>): the leaves it is given do not move.</summary>
    public static GradientTransformation SetToZero() => new(_ => TensorTree.Empty, (g, _, _) =>
    {
        foreach (var t in g.Leaves) t.zero_();
        return g;
    })
    {
        FusedStep = (_, _, _) => { },
    };

    /// <summary>
    /// <paramref name="inner"/> for every leaf except the frozen ones, which do not move (their
    /// updates are zero, whatever the optimizer): <c>MultiTransform</c> of the optimizer and
    /// <see cref="SetToZero"/>, so Adam stays fused.
    /// </summary>
    public static GradientTransformation Freeze(GradientTransformation inner, Func<string, bool> frozen)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(frozen);
        return MultiTransform(
            new Dictionary<string, GradientTransformation> { ["trainable"] = inner, ["frozen"] = SetToZero() },
            path => frozen(path) ? "frozen" : "trainable");
    }

    /// <summary>Multiplies updates by -schedule(step) * multiplier: the last link of every
    /// optimizer. The multiplier is state (<see cref="LearningRateState"/>: 1 unless a callback
    /// such as reduce-on-plateau changed it), so training callbacks can lower the rate while the
    /// schedule goes on.</summary>
    public static GradientTransformation ScaleByLearningRate(Schedule learningRate) => new(
        _ => LearningRateState.Init().ToTree(),
        (g, state, _) =>
        {
            var rate = LearningRateState.Of(state);
            double lr = learningRate(Advance(rate.Count) - 1) * rate.Multiplier.item<double>();
            foreach (var t in g.Leaves) t.mul_(-lr);
            return g;
        });

    /// <summary>Multiplies updates by a constant.</summary>
    public static GradientTransformation Scale(double factor)
    {
        if (!double.IsFinite(factor)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "factor must be finite.");
        return new(_ => TensorTree.Empty, (g, _, _) =>
        {
            foreach (var t in g.Leaves) t.mul_(factor);
            return g;
        });
    }

    /// <summary>Momentum: trace = decay * trace + g; the update is the trace, or with Nesterov
    /// g + decay * trace.</summary>
    public static GradientTransformation Trace(double decay, bool nesterov = false)
    {
        Hyperparameter.Decay(decay, nameof(decay));
        if (nesterov && decay == 0) throw new ArgumentOutOfRangeException(nameof(decay), decay, "Nesterov momentum needs a decay above 0.");
        return new(
            p => new AccumulatorState(AccumulatorState.Trace, p.Map(ZerosLike)).ToTree(),
            (g, state, _) =>
            {
                var trace = AccumulatorState.Of(AccumulatorState.Trace, state).Values;
                for (int i = 0; i < g.Count; i++)
                {
                    var (t, gi) = (trace.Leaves[i], g.Leaves[i]);
                    t.mul_(decay).add_(gi);
                    if (nesterov) gi.add_(t, alpha: decay);
                    else gi.copy_(t);
                }
                return g;
            });
    }

    /// <summary>Adam's rescaling: bias-corrected first moment over the root of the bias-corrected
    /// second moment plus <paramref name="epsilon"/>.</summary>
    public static GradientTransformation ScaleByAdam(double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        Hyperparameter.Decay(beta1, nameof(beta1));
        Hyperparameter.Decay(beta2, nameof(beta2));
        Hyperparameter.NonNegative(epsilon, nameof(epsilon));
        return new(
            p => AdamState.Init(p).ToTree(),
            (g, state, _) =>
            {
                var (mu, nu, count) = AdamState.Of(state);
                long t = Advance(count);
                double c1 = 1 - Math.Pow(beta1, t), sqrtC2 = Math.Sqrt(1 - Math.Pow(beta2, t));
                for (int i = 0; i < g.Count; i++)
                {
                    var (m, v, gi) = (mu.Leaves[i], nu.Leaves[i], g.Leaves[i]);
                    m.lerp_(gi, 1 - beta1);
                    v.mul_(beta2).addcmul_(gi, gi, value: 1 - beta2);
                    // (m / c1) / (sqrt(v) / sqrt(c2) + eps) = (sqrt(c2) / c1) m / (sqrt(v) + eps sqrt(c2)),
                    // written into g's buffer: the fewest passes over memory.
                    using var denominator = v.sqrt().add_(epsilon * sqrtC2);
                    gi.zero_().addcdiv_(m, denominator, value: sqrtC2 / c1);
                }
                return g;
            });
    }

    /// <summary>RMSProp's rescaling: g / (sqrt(nu) + epsilon), nu = decay * nu + (1 - decay) g^2.</summary>
    public static GradientTransformation ScaleByRms(double decay = 0.9, double epsilon = 1e-7)
    {
        Hyperparameter.Decay(decay, nameof(decay));
        Hyperparameter.NonNegative(epsilon, nameof(epsilon));
        return new(
            p => new AccumulatorState(AccumulatorState.Rms, p.Map(ZerosLike)).ToTree(),
            (g, state, _) =>
            {
                var nu = AccumulatorState.Of(AccumulatorState.Rms, state).Values;
                for (int i = 0; i < g.Count; i++)
                {
                    var (v, gi) = (nu.Leaves[i], g.Leaves[i]);
                    v.mul_(decay).addcmul_(gi, gi, value: 1 - decay);
                    DivideByRootPlus(gi, v, epsilon);
                }
                return g;
            });
    }

    /// <summary>Adagrad's rescaling: g / (sqrt(sum of g^2) + epsilon), the sum starting at
    /// <paramref name="initialAccumulator"/>.</summary>
    public static GradientTransformation ScaleByRss(double initialAccumulator = 0.1, double epsilon = 1e-7)
    {
        Hyperparameter.NonNegative(initialAccumulator, nameof(initialAccumulator));
        Hyperparameter.NonNegative(epsilon, nameof(epsilon));
        return new(
            p => new AccumulatorState(AccumulatorState.SumOfSquares, p.Map(t => torch.full_like(t, initialAccumulator))).ToTree(),
            (g, state, _) =>
            {
                var sum = AccumulatorState.Of(AccumulatorState.SumOfSquares, state).Values;
                for (int i = 0; i < g.Count; i++)
                {
                    var (s, gi) = (sum.Leaves[i], g.Leaves[i]);
                    s.addcmul_(gi, gi, value: 1);
                    DivideByRootPlus(gi, s, epsilon);
                }
                return g;
            });
    }

    /// <summary>Adds <paramref name="weightDecay"/> * parameters to the updates (decoupled weight
    /// decay when placed before the learning rate, as in AdamW). Only leaves whose path
    /// satisfies <paramref name="mask"/> decay (all by default).</summary>
    public static GradientTransformation AddDecayedWeights(double weightDecay, Func<string, bool>? mask = null)
    {
        Hyperparameter.NonNegative(weightDecay, nameof(weightDecay));
        return new(
            _ => TensorTree.Empty,
            (g, _, parameters) =>
            {
                ArgumentNullException.ThrowIfNull(parameters, nameof(parameters));
                g.RequireSamePaths(parameters, nameof(parameters));
                for (int i = 0; i < g.Count; i++)
                    if (mask is null || mask(g.Paths[i])) g.Leaves[i].add_(parameters[g.Paths[i]], alpha: weightDecay);
                return g;
            });
    }

    /// <summary>Scales all updates together so their global L2 norm is at most <paramref name="maxNorm"/>.</summary>
    public static GradientTransformation ClipByGlobalNorm(double maxNorm)
    {
        Hyperparameter.Positive(maxNorm, nameof(maxNorm));
        return new(_ => TensorTree.Empty, (g, _, _) =>
        {
            double norm = GlobalNorm(g);
            if (norm > maxNorm)
                foreach (var t in g.Leaves) t.mul_(maxNorm / norm);
            return g;
        });
    }

    /// <summary>Clips every element of the updates to [-<paramref name="maxAbs"/>, <paramref name="maxAbs"/>].</summary>
    public static GradientTransformation ClipByValue(double maxAbs)
    {
        Hyperparameter.Positive(maxAbs, nameof(maxAbs));
        return new(_ => TensorTree.Empty, (g, _, _) =>
        {
            foreach (var t in g.Leaves) t.clamp_(-maxAbs, maxAbs);
            return g;
        });
    }

    /// <summary>The L2 norm of all leaves together.</summary>
    public static double GlobalNorm(TensorTree tree) =>
        Math.Sqrt(tree.Leaves.Sum(t => t.detach().to_type(ScalarType.Float64).square().sum().item<double>()));

    /// <summary>g &lt;- g / (sqrt(s) + epsilon), in g's buffer.</summary>
    static void DivideByRootPlus(Tensor g, Tensor s, double epsilon)
    {
        using var denominator = s.sqrt().add_(epsilon);
        g.div_(denominator);
    }

    /// <summary>Adds one to a step counter; returns the new count.</summary>
    static long Advance(Tensor count) => count.add_(1).item<long>();

    static Tensor ZerosLike(Tensor t) => torch.zeros_like(t);
}
