using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Which dtype layers compute in and which dtype their variables are kept in (Keras's
/// <c>DTypePolicy</c>, PyTorch's autocast). Under a mixed policy the variables stay float32 (the
/// optimizer updates float32 master weights) and layers that multiply (Dense, convolutions,
/// attention, recurrent cells) cast their parameters and input to the compute dtype; the
/// numerically sensitive parts stay float32: normalisation statistics, softmax, losses, and the
/// model's outputs on their way to the loss.
/// </summary>
/// <remarks>
/// A policy applies to layers whose variables are float32: variables of another dtype (float64
/// for a gradient check) are computed in as they are. Set a model's policy when it is built
/// (<c>new Model(..., precision: PrecisionPolicy.MixedBFloat16)</c>), one layer's with
/// <see cref="LayerPrecision.WithPrecision{TLayer}"/>, or the default for both with <see cref="Global"/>.
/// </remarks>
public sealed class PrecisionPolicy
{
    PrecisionPolicy(string name, ScalarType computeDtype) => (Name, ComputeDtype) = (name, computeDtype);

    /// <summary>Keras's name for the policy: "float32", "mixed_bfloat16" or "mixed_float16".</summary>
    public string Name { get; }

    /// <summary>The dtype layers compute in.</summary>
    public ScalarType ComputeDtype { get; }

    /// <summary>The dtype variables are kept in (float32 for every policy).</summary>
    public ScalarType VariableDtype => ScalarType.Float32;

    /// <summary>Whether layers compute in a narrower dtype than their variables.</summary>
    public bool IsMixed => ComputeDtype != VariableDtype;

    /// <summary>Whether training needs loss scaling (float16's range is too narrow for small
    /// gradients); a model under this policy scales its loss dynamically (<see cref="Optimizers.LossScale"/>).</summary>
    public bool NeedsLossScaling => ComputeDtype == ScalarType.Float16;

    /// <summary>Everything in float32 (no casts).</summary>
    public static PrecisionPolicy Float32 { get; } = new("float32", ScalarType.Float32);

    /// <summary>Compute in bfloat16 (float32's range, 8 bits of mantissa; fast on CPUs with
    /// AVX-512 BF16 and AMX), variables float32. Needs no loss scaling.</summary>
    public static PrecisionPolicy MixedBFloat16 { get; } = new("mixed_bfloat16", ScalarType.BFloat16);

    /// <summary>Compute in float16, variables float32, the loss scaled dynamically. CPUs without
    /// AVX512-FP16 emulate float16 arithmetic: expect it to be slower than float32 there.</summary>
    public static PrecisionPolicy MixedFloat16 { get; } = new("mixed_float16", ScalarType.Float16);

    /// <summary>The built-in policies.</summary>
    public static IReadOnlyList<PrecisionPolicy> All { get; } = [Float32, MixedBFloat16, MixedFloat16];

    static volatile PrecisionPolicy global = Float32;

    /// <summary>The policy models and <see cref="ApplyContext"/>s take when none is given
    /// (Keras's <c>set_global_policy</c>); float32 unless set. Read when a model or context is
    /// made: changing it later changes neither.</summary>
    public static PrecisionPolicy Global
    {
        get => global;
        set => global = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The policy named <paramref name="name"/> (Keras's names).</summary>
    /// <exception cref="ArgumentException">An unknown name (the message lists the known ones).</exception>
    public static PrecisionPolicy Parse(string name) =>
        All.FirstOrDefault(p => p.Name == name)
        ?? throw new ArgumentException($"Unknown precision policy '{name}'; the policies are {string.Join(", ", All.Select(p => p.Name))}.", nameof(name));

    /// <summary>Whether <paramref name="dtype"/> is a 16-bit floating dtype (float16 or bfloat16).</summary>
    public static bool IsHalf(ScalarType dtype) => dtype is ScalarType.Float16 or ScalarType.BFloat16;

    /// <summary><paramref name="x"/> in float32 when it is 16-bit floating point (for the parts
    /// that stay float32: softmax, losses), else <paramref name="x"/> itself.</summary>
    public static Tensor InFloat32(Tensor x) => IsHalf(x.dtype) ? x.to_type(ScalarType.Float32) : x;

    /// <inheritdoc/>
    public override string ToString() => Name;
}
