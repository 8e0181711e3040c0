using Functional.Trees;
using TorchSharp;

namespace Functional.Training;

/// <summary>
/// An exponential moving average of the parameters over training steps (Keras's
/// <c>use_ema</c>, Optax's <c>ema</c> of the weights): after each step
/// <c>average = decay * average + (1 - decay) * parameters</c>, starting from the parameters
/// when training begins. With <paramref name="applyAtEnd"/> the model takes the averaged
/// parameters when Fit ends (as Keras does), so Evaluate, Predict and saving use them; otherwise,
/// and when Fit was interrupted (an exception, a cancellation: the model keeps the last step's
/// parameters), <see cref="Average"/> holds them (this callback owns them until disposed).
/// </summary>
public sealed class WeightAverage(double decay = 0.999, bool applyAtEnd = true) : Callback, IDisposable
{
    /// <summary>The weight of the old average, in [0, 1).</summary>
    public double Decay { get; } = decay is >= 0 and < 1 ? decay : throw new ArgumentOutOfRangeException(nameof(decay), decay, "decay must be in [0, 1).");

    /// <summary>The averaged parameters (null before training, and after they were applied to the model).</summary>
    public TensorTree? Average { get; private set; }

    /// <inheritdoc/>
    public override void OnTrainBegin(TrainingContext context)
    {
        Average?.Dispose();
        using (torch.no_grad()) Average = context.Model.State.Params.Clone();
    }

    /// <inheritdoc/>
    public override void OnBatchEnd(TrainingContext context, long step, double loss)
    {
        if (Average is not { } average) return;
        using var noGrad = torch.no_grad();
        var current = context.Model.State.Params;
        for (int i = 0; i < average.Count; i++) average.Leaves[i].lerp_(current.Leaves[i], 1 - Decay);
    }

    /// <inheritdoc/>
    public override void OnTrainEnd(TrainingContext context)
    {
        if (!applyAtEnd || context.Interrupted || Average is not { } average) return;
        Average = null;
        context.Model.RestoreVariables(average, context.Model.State.ModelState);
    }

    /// <summary>Frees <see cref="Average"/> when it was not applied.</summary>
    public void Dispose()
    {
        Average?.Dispose();
        Average = null;
    }
}
