using Functional.Optimizers;
using TorchSharp;

namespace Functional.Training;

/// <summary>Reads and sets the optimizer's learning-rate multiplier (the factor on its schedule) in a model's state.</summary>
static class LearningRateMultiplier
{
    public static IReadOnlyList<torch.Tensor> Of(Model model, string callback)
    {
        var multipliers = LearningRateState.Multipliers(model.State.OptState);
        return multipliers.Count > 0 ? multipliers : throw new InvalidOperationException(
            $"{callback} needs an optimizer with a learning rate (Transform.ScaleByLearningRate, which every Optimizer.* has).");
    }
}

/// <summary>
/// Keras's ReduceLROnPlateau: when <see cref="Monitor"/> has not improved for
/// <see cref="Patience"/> epochs, multiplies the learning rate by <see cref="Factor"/> (not below
/// <see cref="MinMultiplier"/> times the scheduled rate), then waits <see cref="Cooldown"/> epochs.
/// </summary>
public sealed class ReduceLearningRateOnPlateau(
    string monitor = "val_loss", double factor = 0.1, int patience = 10, double minDelta = 1e-4,
    int cooldown = 0, double minMultiplier = 0, bool? higherIsBetter = null) : MonitorCallback(monitor, higherIsBetter, minDelta)
{
    int wait, coolingDown;

    /// <summary>Multiplies the learning rate on a plateau, in (0, 1).</summary>
    public double Factor { get; } = factor is > 0 and < 1 ? factor : throw new ArgumentOutOfRangeException(nameof(factor), factor, "factor must be in (0, 1).");
    /// <summary>Epochs without improvement before reducing.</summary>
    public int Patience { get; } = patience >= 0 ? patience : throw new ArgumentOutOfRangeException(nameof(patience), patience, "patience must be at least 0.");
    /// <summary>Epochs to wait after a reduction.</summary>
    public int Cooldown { get; } = cooldown >= 0 ? cooldown : throw new ArgumentOutOfRangeException(nameof(cooldown), cooldown, "cooldown must be at least 0.");
    /// <summary>Lowest multiplier of the scheduled learning rate.</summary>
    public double MinMultiplier { get; } = minMultiplier is >= 0 and <= 1 ? minMultiplier
        : throw new ArgumentOutOfRangeException(nameof(minMultiplier), minMultiplier, "minMultiplier must be in [0, 1].");

    /// <inheritdoc/>
    public override void OnTrainBegin(TrainingContext context)
    {
        LearningRateMultiplier.Of(context.Model, nameof(ReduceLearningRateOnPlateau));
        Reset(context.Model);
        (wait, coolingDown) = (0, 0);
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(TrainingContext context, int epoch, IReadOnlyDictionary<string, double> logs)
    {
        double value = Read(logs);
        if (coolingDown > 0) coolingDown--;
        if (Improves(value))
        {
            wait = 0;
            return;
        }
        if (coolingDown > 0 || ++wait <= Patience) return;
        foreach (var m in LearningRateMultiplier.Of(context.Model, nameof(ReduceLearningRateOnPlateau)))
            m.fill_(Math.Max(m.item<double>() * Factor, MinMultiplier));
        (wait, coolingDown) = (0, Cooldown);
    }
}

/// <summary>
/// Sets the learning-rate multiplier at the start of every epoch from
/// <paramref name="multiplierForEpoch"/> (epoch, 0-based): with a constant learning rate lr, epoch
/// e trains at lr * multiplierForEpoch(e). For per-step schedules use <see cref="Schedules"/>.
/// </summary>
public sealed class LearningRateScheduler(Func<int, double> multiplierForEpoch) : Callback
{
    /// <inheritdoc/>
    public override void OnEpochBegin(TrainingContext context, int epoch)
    {
        double multiplier = multiplierForEpoch(epoch);
        foreach (var m in LearningRateMultiplier.Of(context.Model, nameof(LearningRateScheduler))) m.fill_(multiplier);
    }
}
