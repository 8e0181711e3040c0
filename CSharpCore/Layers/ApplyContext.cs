namespace Functional.Layers;

/// <summary>
/// How a layer is applied: in training (dropout active, batch statistics) or inference, and the
/// random key that training-time randomness derives from. Containers pass each child
/// <see cref="For"/> its name, so a layer's randomness is a function of (key, its path in the
/// model). Same context, same inputs, same outputs.
/// </summary>
/// <param name="Training">Training mode.</param>
/// <param name="Key">Where dropout and other training-time randomness come from; required
/// when <paramref name="Training"/> is true and a layer needs randomness.</param>
public sealed record ApplyContext(bool Training, RandomKey? Key = null)
{
    /// <summary>The precision policy layers compute under (a layer's own policy overrides it);
    /// <see cref="PrecisionPolicy.Global"/> when the context was made.</summary>
    public PrecisionPolicy Precision { get; init; } = PrecisionPolicy.Global;

    /// <summary>In exact data-parallel training, where this rank's rows sit in the global batch:
    /// layers that draw per-example randomness (Dropout) draw for the global batch and keep
    /// these rows, so N ranks compute what one process would. Null otherwise.</summary>
    public BatchShare? Share { get; init; }

    /// <summary>The ranks whose batch statistics BatchNorm combines (synchronised BatchNorm in
    /// data-parallel training); null for statistics of this process's batch alone.</summary>
    public Distributed.Communicator? Replicas { get; init; }

    /// <summary>Inference: no randomness, running statistics.</summary>
    public static ApplyContext Inference => new(false);

    /// <summary>Training with randomness derived from <paramref name="key"/>.</summary>
    public static ApplyContext Train(RandomKey key) => new(true, key);

    /// <summary>Training with randomness derived from the key <paramref name="seed"/>.</summary>
    public static ApplyContext Train(ulong seed) => new(true, new RandomKey(seed));

    /// <summary>The same context under <paramref name="policy"/> (e.g. a hand-written loop in mixed precision).</summary>
    public ApplyContext WithPrecision(PrecisionPolicy policy) =>
        this with { Precision = policy ?? throw new ArgumentNullException(nameof(policy)) };

    /// <summary>The context for the part of the model named <paramref name="name"/>: the same
    /// mode, the key folded with the name.</summary>
    public ApplyContext For(string name) => Key is { } key ? this with { Key = key.Fold(name) } : this;
}
