using System.Text.Json.Nodes;
using Functional.Layers;

namespace Functional.ModelOptimization;

/// <summary>
/// When pruning recomputes its masks and to what sparsity (tfmot's pruning schedules). Masks
/// are recomputed at <see cref="BeginStep"/>, every <see cref="Frequency"/> steps after it, and
/// at <see cref="EndStep"/> (so the final sparsity is reached whatever the frequency); between
/// those steps the masks stay, and after <see cref="EndStep"/> they are fixed. Steps count the
/// optimizer's updates from 0.
/// </summary>
public abstract record PruningSchedule
{
    private protected PruningSchedule(long beginStep, long endStep, long frequency)
    {
        if (beginStep < 0) throw new ArgumentOutOfRangeException(nameof(beginStep), beginStep, "The begin step must be 0 or more.");
        if (endStep != -1 && endStep < beginStep)
            throw new ArgumentOutOfRangeException(nameof(endStep), endStep, $"The end step must be -1 (never) or at least the begin step ({beginStep}).");
        if (frequency < 1) throw new ArgumentOutOfRangeException(nameof(frequency), frequency, "The frequency must be at least 1 step.");
        (BeginStep, EndStep, Frequency) = (beginStep, endStep, frequency);
    }

    /// <summary>The first step that prunes.</summary>
    public long BeginStep { get; }
    /// <summary>The last step that changes the masks (-1: pruning never ends).</summary>
    public long EndStep { get; }
    /// <summary>Steps between mask updates.</summary>
    public long Frequency { get; }

    /// <summary>The target share of pruned weights at <paramref name="step"/>, in [0, 1).</summary>
    public abstract double SparsityAt(long step);

    /// <summary>Whether the masks are recomputed at <paramref name="step"/>.</summary>
    public bool UpdatesAt(long step) =>
        step >= BeginStep && (EndStep == -1 || step <= EndStep) && ((step - BeginStep) % Frequency == 0 || step == EndStep);

    private protected static double RequireSparsity(double sparsity, string name) =>
        sparsity is >= 0 and < 1 ? sparsity : throw new ArgumentOutOfRangeException(name, sparsity, "A sparsity must be in [0, 1).");

    /// <summary>The same sparsity at every update (tfmot's <c>ConstantSparsity</c>).</summary>
    public static PruningSchedule Constant(double sparsity, long beginStep = 0, long endStep = -1, long frequency = 100) =>
        new ConstantSparsity(RequireSparsity(sparsity, nameof(sparsity)), beginStep, endStep, frequency);

    /// <summary>
    /// Sparsity rising from <paramref name="initialSparsity"/> at <paramref name="beginStep"/> to
    /// <paramref name="finalSparsity"/> at <paramref name="endStep"/> along
    /// <c>final + (initial - final) (1 - progress)^power</c> (tfmot's <c>PolynomialDecay</c>):
    /// fast at first, gently at the end, so the network recovers as it goes.
    /// </summary>
    public static PruningSchedule Polynomial(double initialSparsity, double finalSparsity, long beginStep, long endStep, double power = 3, long frequency = 100)
    {
        if (endStep == -1) throw new ArgumentOutOfRangeException(nameof(endStep), endStep, "A polynomial schedule needs an end step.");
        if (!(power > 0) || double.IsInfinity(power)) throw new ArgumentOutOfRangeException(nameof(power), power, "The power must be finite and above 0.");
        return new PolynomialSparsity(RequireSparsity(initialSparsity, nameof(initialSparsity)), RequireSparsity(finalSparsity, nameof(finalSparsity)),
            beginStep, endStep, power, frequency);
    }

    /// <summary>The schedule as data, for a saved model's training description.</summary>
    internal abstract JsonObject Describe();

    /// <summary>The schedule a description names.</summary>
    internal static PruningSchedule FromDescription(LayerConfig c) => c.Text("type") switch
    {
        "constant" => Constant(c.Double("sparsity"), c.Long("begin_step"), c.Long("end_step"), c.Long("frequency")),
        "polynomial" => Polynomial(c.Double("initial_sparsity"), c.Double("final_sparsity"), c.Long("begin_step"), c.Long("end_step"),
            c.Double("power"), c.Long("frequency")),
        var other => throw new ArgumentException($"unknown pruning schedule '{other}'"),
    };

    sealed record ConstantSparsity(double Sparsity, long Begin, long End, long Every) : PruningSchedule(Begin, End, Every)
    {
        public override double SparsityAt(long step) => Sparsity;

        internal override JsonObject Describe() => new()
        {
            ["type"] = "constant", ["sparsity"] = Sparsity, ["begin_step"] = Begin, ["end_step"] = End, ["frequency"] = Every,
        };
    }

    sealed record PolynomialSparsity(double Initial, double Final, long Begin, long End, double Power, long Every) : PruningSchedule(Begin, End, Every)
    {
        public override double SparsityAt(long step)
        {
            double progress = End == Begin ? 1 : Math.Clamp((double)(step - Begin) / (End - Begin), 0, 1);
            return Final + (Initial - Final) * Math.Pow(1 - progress, Power);
        }

        internal override JsonObject Describe() => new()
        {
            ["type"] = "polynomial", ["initial_sparsity"] = Initial, ["final_sparsity"] = Final, ["begin_step"] = Begin,
            ["end_step"] = End, ["power"] = Power, ["frequency"] = Every,
        };
    }
}
