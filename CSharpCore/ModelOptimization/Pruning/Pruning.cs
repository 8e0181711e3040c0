using System.Runtime.CompilerServices;
using Functional.Optimizers;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.ModelOptimization;

/// <summary>Which weights are ranked against each other when pruning.</summary>
public enum PruningScope
{
    /// <summary>Each parameter reaches the target sparsity on its own (tfmot's default).</summary>
    PerLayer,
    /// <summary>All prunable weights are ranked together: layers with many small weights lose more.</summary>
    Global,
}

/// <summary>What pruning removes.</summary>
public enum PruningStructure
{
    /// <summary>Single weights of smallest magnitude.</summary>
    Weights,
    /// <summary>Whole output units of a Dense kernel (its columns) and whole output channels of
    /// a convolution kernel (its first axis), with their biases, by smallest L2 norm: what
    /// <see cref="Pruning.Shrink"/> turns into a smaller network.</summary>
    Units,
}

/// <summary>Options of <see cref="Pruning.Magnitude"/>.</summary>
public sealed record PruningOptions
{
    /// <summary>Which parameters are pruned, by path (default: every "kernel", i.e. the weights
    /// of Dense and convolution layers, as tfmot prunes; biases and normalisation stay). A tree
    /// mask, as <see cref="Transform.Masked"/> takes: <c>path =&gt; path.EndsWith("kernel") &amp;&amp;
    /// !path.StartsWith("output")</c> keeps the last layer dense.</summary>
    public Func<string, bool> Prunable { get; init; } = Kernels;

    /// <summary>The default <see cref="Prunable"/> rule: every parameter named "kernel".</summary>
    public static Func<string, bool> Kernels { get; } = path => path == "kernel" || path.EndsWith(TreePath.Separator + "kernel", StringComparison.Ordinal);
    /// <summary>Per layer (default) or global ranking.</summary>
    public PruningScope Scope { get; init; } = PruningScope.PerLayer;
    /// <summary>Single weights (default) or whole units and channels.</summary>
    public PruningStructure Structure { get; init; } = PruningStructure.Weights;
}

/// <summary>
/// Magnitude pruning as an optimizer transformation (Optax style): the masks live in the
/// optimizer state, the gradients of pruned weights are masked before the inner optimizer sees
/// them (as tfmot's masked forward pass gives), and the parameters are masked after each update,
/// so pruned weights stay exactly zero. Masks are recomputed on the schedule's steps from the
/// updated weights' magnitudes. The state — <c>{pruning: {step, masks: {PATH: bool}}, inner}</c> —
/// is checkpointed and resumed with the rest of the optimizer state.
/// </summary>
/// <remarks>
/// <code>
/// var optimizer = Pruning.Magnitude(Optimizer.Adam(1e-3), PruningSchedule.Polynomial(0, 0.8, beginStep: 200, endStep: 2000));
/// using var model = new Model(network, [784], loss, optimizer);
/// model.Fit(x, y, ...);
/// Console.Write(Pruning.Report(model));          // sparsity per layer
/// using var deployed = Pruning.Strip(model);     // a plain model: masks folded in, Adam's state kept
/// </code>
/// </remarks>
public static partial class Pruning
{
    /// <summary>The name of the pruning state's sub-tree.</summary>
    public const string StateName = "pruning";
    const string InnerName = "inner", StepName = "step", MasksName = "masks";

    /// <summary>What each pruning transformation wraps, for <see cref="Strip"/>.</summary>
    static readonly ConditionalWeakTable<GradientTransformation, GradientTransformation> inners = new();

    /// <summary>
    /// Wraps <paramref name="inner"/> (any optimizer) in magnitude pruning on
    /// <paramref name="schedule"/>. Adam stays one fused kernel: the masks are applied around it.
    /// </summary>
    /// <exception cref="ArgumentException">At Init: no parameter is prunable, or a structured
    /// kernel of rank below 2.</exception>
    public static GradientTransformation Magnitude(GradientTransformation inner, PruningSchedule schedule, PruningOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(schedule);
        options ??= new PruningOptions();
        if (options.Scope == PruningScope.Global && options.Structure == PruningStructure.Units)
            throw new ArgumentException("Structured pruning ranks units within each layer; use PruningScope.PerLayer with PruningStructure.Units.", nameof(options));
        var rule = new MaskRule(schedule, options);

        TensorTree Init(TensorTree parameters) => TensorTree.Node(
            (StateName, TensorTree.Node((StepName, TensorTree.Leaf(tensor(0L))), (MasksName, rule.InitialMasks(parameters)))),
            (InnerName, inner.Init(parameters)));

        var description = inner.Description is { } described && ReferenceEquals(options.Prunable, PruningOptions.Kernels)
            ? new System.Text.Json.Nodes.JsonObject
            {
                ["type"] = "prune_magnitude", ["inner"] = described.DeepClone(), ["schedule"] = schedule.Describe(),
                ["scope"] = options.Scope.ToString(), ["structure"] = options.Structure.ToString(),
            }
            : null;
        var pruning = new GradientTransformation(Init, (gradients, state, parameters) =>
        {
            RequireParameters(parameters);
            var masks = state.Select($"{StateName}/{MasksName}");
            MaskInPlace(gradients, masks);
            var updates = inner.UpdateInPlace(gradients, state.Select(InnerName), parameters);
            // The weights this step ends with, masked: updates become mask * (p + u) - p.
            var next = masks.Paths.Where(updates.ContainsLeaf).Select(path => (path, updates[path].add_(parameters[path]))).ToArray();
            rule.Advance(state, TensorTree.FromLeaves(next), masks);
            foreach (var (path, weights) in next) weights.mul_(masks[path]).sub_(parameters[path]);
            return updates;
        })
        {
            Description = description,
            FusedStep = inner.FusedStep is not { } fused ? null : (gradients, state, parameters) =>
            {
                RequireParameters(parameters);
                var masks = state.Select($"{StateName}/{MasksName}");
                MaskInPlace(gradients, masks);
                fused(gradients, state.Select(InnerName), parameters);
                rule.Advance(state, parameters, masks);
                foreach (var (path, mask) in masks) parameters[path].mul_(mask);
            },
        };
        inners.Add(pruning, inner);
        return pruning;
    }

    /// <summary>
    /// A trained model set up to be pruned as it trains on (tfmot's <c>prune_low_magnitude</c>
    /// on a trained model, the usual recipe: train, then prune while fine-tuning): a new model
    /// with the same network and weights whose optimizer is <see cref="Magnitude"/> around the
    /// model's own, with its state (Adam's moments) carried over — unless the model has frozen
    /// layers, whose optimizer state has another shape: it then starts afresh. The masks start
    /// all true and <paramref name="schedule"/> counts from the new model's first update; the
    /// given model is unchanged.
    /// </summary>
    /// <exception cref="ArgumentException">The model prunes already (train it on, or Strip it first).</exception>
    public static Training.Model Prune(Training.Model model, PruningSchedule schedule, PruningOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (inners.TryGetValue(model.BaseOptimizer, out _))
            throw new ArgumentException($"Model '{model.Network.Name}' prunes already: train it on, or Strip it first.", nameof(model));
        var inner = model.BaseOptimizer;
        var rebuilt = ModelRewrite.Rebuild(model, Magnitude(inner, schedule, options));
        try
        {
            Training.TrainState? copy = null;
            model.ReadState(state => copy = state.Copy());
            var fresh = rebuilt.State.OptState;
            var innerState = fresh.Select(InnerName);
            TensorTree carried;
            if (copy!.OptState.Structure.Equals(innerState.Structure))
                carried = TensorTree.Node((StateName, fresh.Select(StateName).Clone()), (InnerName, copy.OptState));
            else
            {
                copy.OptState.Dispose();
                carried = fresh.Clone();
            }
            rebuilt.Resume(copy with { OptState = carried });
            return rebuilt;
        }
        catch
        {
            rebuilt.Dispose();
            throw;
        }
    }

    /// <summary>The pruning optimizer a saved model's training description names (the default
    /// Prunable rule: a custom rule is code, which a description does not hold).</summary>
    internal static GradientTransformation FromDescription(Layers.LayerConfig c, Func<Layers.LayerConfig, GradientTransformation> optimizer) =>
        Magnitude(optimizer(c.Object("inner")), PruningSchedule.FromDescription(c.Object("schedule")),
            new PruningOptions { Scope = c.Enum<PruningScope>("scope"), Structure = c.Enum<PruningStructure>("structure") });

    /// <summary>The optimizer a pruning transformation wraps, or <paramref name="optimizer"/> itself
    /// when it does not prune (a rewritten model has no masks to keep).</summary>
    internal static GradientTransformation Unwrapped(GradientTransformation optimizer) =>
        inners.TryGetValue(optimizer, out var inner) ? inner : optimizer;

    static void RequireParameters(TensorTree? parameters)
    {
        if (parameters is null) throw new ArgumentNullException(nameof(parameters), "Pruning ranks the parameters' magnitudes: pass the parameters to Update.");
    }

    static void MaskInPlace(TensorTree tree, TensorTree masks)
    {
        foreach (var (path, mask) in masks)
            if (tree.TryGetLeaf(path, out var leaf)) leaf.mul_(mask);
    }

    /// <summary>The masks an optimizer state holds (boolean, by parameter path; true: kept), or
    /// null when the optimizer does not prune.</summary>
    /// <exception cref="ArgumentException">The state holds two pruning states.</exception>
    public static TensorTree? Masks(TensorTree optimizerState) =>
        FindPrefix(optimizerState) is { } prefix ? optimizerState.Select(TreePath.Join(prefix, MasksName)) : null;

    /// <summary>The path of the one pruning sub-tree in an optimizer state, or null.</summary>
    static string? FindPrefix(TensorTree optimizerState)
    {
        ArgumentNullException.ThrowIfNull(optimizerState);
        const string stepPath = StateName + "/" + StepName;
        string? found = null;
        foreach (var path in optimizerState.Paths)
        {
            if (path != stepPath && !path.EndsWith(TreePath.Separator + stepPath, StringComparison.Ordinal)) continue;
            if (found is not null) throw new ArgumentException("The optimizer state holds more than one pruning state; prune the whole optimizer once.", nameof(optimizerState));
            found = path[..^(StepName.Length + 1)];
        }
        return found;
    }

    /// <summary>
    /// Sparsity per pruned parameter (zeros in the weights themselves), and overall: over the
    /// masked parameters of a pruned model, over every kernel of another.
    /// </summary>
    public static SparsityReport Report(Training.Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        SparsityReport report = null!;
        model.ReadState(state =>
        {
            var masks = Masks(state.OptState);
            var rule = PruningOptions.Kernels;
            report = SparsityReport.Of(state.Params.Filter((path, _) => masks is null ? rule(path) : masks.ContainsLeaf(path)));
        });
        return report;
    }

    /// <summary>
    /// A plain model (tfmot's <c>strip_pruning</c>): the same network with the masks folded into
    /// its weights and <paramref name="optimizer"/> — by default the optimizer the pruning wrapped,
    /// whose state carries over. Loss, metrics, frozen layers, class names, step and seed are kept;
    /// the given model is unchanged.
    /// </summary>
    /// <exception cref="ArgumentException">The model's optimizer does not prune (and no optimizer
    /// was given, or there is nothing to strip).</exception>
    public static Training.Model Strip(Training.Model model, GradientTransformation? optimizer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (optimizer is null && !inners.TryGetValue(model.BaseOptimizer, out optimizer))
            throw new ArgumentException($"Model '{model.Network.Name}' does not prune, or its optimizer was not made by Pruning.Magnitude at its top level: pass the stripped model's optimizer.", nameof(model));
        Training.TrainState? folded = null;
        string? prefix = null;
        model.ReadState(state =>
        {
            prefix = FindPrefix(state.OptState);
            if (prefix is null) return;
            var masks = state.OptState.Select(TreePath.Join(prefix, MasksName));
            using var noGrad = no_grad();
            folded = state with
            {
                Params = state.Params.Map((path, t) => masks.TryGetLeaf(path, out var mask) ? t.mul(mask) : t.detach().clone()),
                ModelState = state.ModelState.Clone(),
                OptState = WithoutPruning(state.OptState, prefix),
            };
        });
        if (folded is null) throw new ArgumentException($"Model '{model.Network.Name}' does not prune: its optimizer state holds no pruning masks.", nameof(model));
        var stripped = ModelRewrite.Rebuild(model, optimizer);
        if (!stripped.State.OptState.Structure.Equals(folded.OptState.Structure))
        {
            folded.OptState.Dispose();   // another optimizer: its state starts afresh
            folded = folded with { OptState = stripped.State.OptState.Clone() };
        }
        stripped.Resume(folded);
        return stripped;
    }

    /// <summary>The optimizer state with the pruning sub-tree at <paramref name="prefix"/> left
    /// out and its inner state in its place (copies).</summary>
    static TensorTree WithoutPruning(TensorTree state, string prefix)
    {
        string parent = prefix.Length == StateName.Length ? "" : prefix[..^(StateName.Length + 1)];
        string innerPrefix = TreePath.Join(parent, InnerName);
        return TensorTree.FromLeaves(state
            .Where(leaf => !TreePath.IsUnder(leaf.Key, prefix))
            .Select(leaf => (TreePath.IsUnder(leaf.Key, innerPrefix) ? TreePath.Join(parent, TreePath.Relative(leaf.Key, innerPrefix)) : leaf.Key,
                leaf.Value.detach().clone())));
    }

    /// <summary>How masks are made and when they change.</summary>
    sealed class MaskRule(PruningSchedule schedule, PruningOptions options)
    {
        /// <summary>All-true masks for the prunable kernels (and, for units, their biases).</summary>
        public TensorTree InitialMasks(TensorTree parameters)
        {
            var kernels = parameters.Paths.Where(options.Prunable).ToArray();
            if (kernels.Length == 0)
                throw new ArgumentException($"No parameter is prunable: the Prunable rule matched none of {string.Join(", ", parameters.Paths)}.", nameof(parameters));
            var masked = new List<(string, Tensor)>();
            foreach (var path in kernels)
            {
                var kernel = parameters[path];
                if (!kernel.is_floating_point()) throw new ArgumentException($"Parameter '{path}' is {kernel.dtype}, not floating point: it cannot be pruned.", nameof(parameters));
                masked.Add((path, ones_like(kernel, ScalarType.Bool)));
                if (options.Structure != PruningStructure.Units) continue;
                if (kernel.dim() < 2) throw new ArgumentException($"Parameter '{path}' has rank {kernel.dim()}; structured pruning takes kernels of rank 2 or more.", nameof(parameters));
                var bias = SiblingBias(path);
                if (parameters.TryGetLeaf(bias, out var b) && b.dim() == 1 && b.shape[0] == kernel.shape[ModelRewrite.OutputAxis(kernel)])
                    masked.Add((bias, ones_like(b, ScalarType.Bool)));
            }
            return TensorTree.FromLeaves(masked);
        }

        /// <summary>Recomputes the masks from <paramref name="weights"/> when the schedule says so,
        /// then counts the step.</summary>
        public void Advance(TensorTree state, TensorTree weights, TensorTree masks)
        {
            var step = state[$"{StateName}/{StepName}"];
            long now = step.item<long>();
            if (schedule.UpdatesAt(now))
            {
                double sparsity = schedule.SparsityAt(now);
                var kernels = masks.Paths.Where(options.Prunable).ToArray();
                if (options.Structure == PruningStructure.Units)
                    foreach (var path in kernels) PruneUnits(path, weights[path], masks, sparsity);
                else if (options.Scope == PruningScope.Global)
                    PruneSmallest([.. kernels.Select(p => weights[p])], [.. kernels.Select(p => masks[p])], sparsity);
                else
                    foreach (var path in kernels) PruneSmallest([weights[path]], [masks[path]], sparsity);
            }
            step.add_(1);
        }

        /// <summary>Masks off the smallest-magnitude share <paramref name="sparsity"/> of all the
        /// given weights, ranked together (exactly floor(sparsity * n) of them).</summary>
        static void PruneSmallest(Tensor[] weights, Tensor[] masks, double sparsity)
        {
            using var scope = NewDisposeScope();
            var magnitudes = weights.Length == 1 ? weights[0].abs().flatten() : cat([.. weights.Select(w => w.abs().flatten())]);
            long count = (long)Math.Floor(sparsity * magnitudes.shape[0]);
            var keep = ones(magnitudes.shape[0], ScalarType.Bool, device: magnitudes.device);
            if (count > 0) keep.index_fill_(0, magnitudes.topk((int)count, largest: false).indexes, false);
            long offset = 0;
            foreach (var mask in masks)
            {
                mask.copy_(keep.narrow(0, offset, mask.numel()).view(mask.shape));
                offset += mask.numel();
            }
        }

        /// <summary>Masks off the share <paramref name="sparsity"/> of a kernel's units with the
        /// smallest L2 norms, and the same entries of its bias.</summary>
        static void PruneUnits(string path, Tensor kernel, TensorTree masks, double sparsity)
        {
            using var scope = NewDisposeScope();
            int axis = ModelRewrite.OutputAxis(kernel);
            long units = kernel.shape[axis];
            var norms = kernel.transpose(0, axis).reshape(units, -1).norm(1, keepdim: false, p: 2);
            long count = (long)Math.Floor(sparsity * units);
            var keep = ones(units, ScalarType.Bool, device: norms.device);
            if (count > 0) keep.index_fill_(0, norms.topk((int)count, largest: false).indexes, false);
            var shape = Enumerable.Repeat(1L, (int)kernel.dim()).ToArray();
            shape[axis] = units;
            masks[path].copy_(keep.view(shape).expand(kernel.shape));
            if (masks.TryGetLeaf(SiblingBias(path), out var bias)) bias.copy_(keep);
        }
    }

    /// <summary>The bias beside a kernel ("dense_1/kernel" -&gt; "dense_1/bias").</summary>
    internal static string SiblingBias(string kernelPath)
    {
        int slash = kernelPath.LastIndexOf(TreePath.Separator);
        return slash < 0 ? "bias" : kernelPath[..(slash + 1)] + "bias";
    }
}
