using System.Globalization;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Optimizers;

/// <summary>
/// The layouts of optimizer state, named in one place: each transformation builds and reads its
/// state through one of these records, and code that needs another's state (the fused Adam
/// step, the learning-rate callbacks) reads it through the same record, so no path such as
/// <c>"0/mu"</c> is spelled anywhere else. The names are those saved in checkpoints.
/// </summary>
public static class OptimizerState
{
    /// <summary>The state of link <paramref name="index"/> of a <see cref="Transform.Chain"/>'s state.</summary>
    public static TensorTree ChainLink(TensorTree chainState, int index)
    {
        ArgumentNullException.ThrowIfNull(chainState);
        return chainState.Select(ChainKey(index));
    }

    /// <summary>The name of a chain link's sub-tree: "0", "1", ...</summary>
    internal static string ChainKey(int index) => index.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Adam's state: the first and second moments (shaped like the parameters) and the step count.</summary>
public readonly record struct AdamState(TensorTree Mu, TensorTree Nu, Tensor Count)
{
    /// <summary>Zero moments for <paramref name="parameters"/>, at step 0.</summary>
    public static AdamState Init(TensorTree parameters) =>
        new(parameters.Map(t => torch.zeros_like(t)), parameters.Map(t => torch.zeros_like(t)), torch.tensor(0L));

    /// <summary>The layout of an Adam state tree.</summary>
    public static AdamState Of(TensorTree state) => new(state.Select("mu"), state.Select("nu"), state["count"]);

    /// <summary>As a tree: <c>mu/...</c>, <c>nu/...</c>, <c>count</c>.</summary>
    public TensorTree ToTree() => TensorTree.Node(("mu", Mu), ("nu", Nu), ("count", TensorTree.Leaf(Count)));
}

/// <summary>The learning-rate link's state: its step count and the multiplier training callbacks change.</summary>
public readonly record struct LearningRateState(Tensor Count, Tensor Multiplier)
{
    /// <summary>The multiplier's leaf name (under every learning-rate link of a state tree).</summary>
    public const string MultiplierName = "lr_multiplier";

    /// <summary>Step 0, multiplier 1.</summary>
    public static LearningRateState Init() => new(torch.tensor(0L), torch.tensor(1.0));

    /// <summary>The layout of a learning-rate state tree.</summary>
    public static LearningRateState Of(TensorTree state) => new(state["count"], state[MultiplierName]);

    /// <summary>As a tree: <c>count</c>, <c>lr_multiplier</c>.</summary>
    public TensorTree ToTree() => TensorTree.Of(("count", Count), (MultiplierName, Multiplier));

    /// <summary>Every multiplier in an optimizer's state (one per learning-rate link).</summary>
    public static IReadOnlyList<Tensor> Multipliers(TensorTree optimizerState) =>
        optimizerState.Filter((path, _) => path == MultiplierName || path.EndsWith("/" + MultiplierName, StringComparison.Ordinal)).Leaves;
}

/// <summary>A per-parameter accumulator (shaped like the parameters) under one name: momentum's
/// <c>trace</c>, RMSProp's <c>nu</c>, Adagrad's <c>sum</c>.</summary>
public readonly record struct AccumulatorState(string Name, TensorTree Values)
{
    /// <summary>Momentum's trace.</summary>
    public const string Trace = "trace";
    /// <summary>RMSProp's running mean of squares.</summary>
    public const string Rms = "nu";
    /// <summary>Adagrad's sum of squares.</summary>
    public const string SumOfSquares = "sum";

    /// <summary>The accumulator <paramref name="name"/> of a state tree.</summary>
    public static AccumulatorState Of(string name, TensorTree state) => new(name, state.Select(name));

    /// <summary>As a tree: <c>{name}/...</c>.</summary>
    public TensorTree ToTree() => Values.Prefix(Name);
}
