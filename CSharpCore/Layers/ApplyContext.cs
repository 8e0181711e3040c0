using TorchSharp;

namespace Functional.Layers;

/// <summary>
/// How a layer is applied: in training (dropout active, batch statistics) or inference, and the
/// random generator that training-time randomness draws from. Same context, same inputs, same
/// outputs.
/// </summary>
/// <param name="Training">Training mode.</param>
/// <param name="Rng">Where dropout and other training-time randomness come from; required
/// when <paramref name="Training"/> is true and a layer needs randomness.</param>
public sealed record ApplyContext(bool Training, torch.Generator? Rng = null)
{
    /// <summary>Inference: no randomness, running statistics.</summary>
    public static ApplyContext Inference { get; } = new(false);

    /// <summary>Training with randomness from <paramref name="rng"/>.</summary>
    public static ApplyContext Train(torch.Generator rng) => new(true, rng);
}
