using Functional.Trees;

namespace Functional.Training;

/// <summary>
/// Stops training when <see cref="Monitor"/> has not improved by more than
/// <c>minDelta</c> for <see cref="Patience"/> epochs; optionally puts back the parameters
/// of the best epoch.
/// </summary>
/// <param name="monitor">A logged name, e.g. "val_loss" or "val_accuracy".</param>
/// <param name="patience">Epochs without improvement before stopping.</param>
/// <param name="minDelta">Smallest change that counts as improvement.</param>
/// <param name="higherIsBetter">Direction; by default decided by what is monitored (see <see cref="MonitorCallback"/>).</param>
/// <param name="restoreBestWeights">At the end, restore the parameters and model state of the best epoch.</param>
public sealed class EarlyStopping(
    string monitor = "val_loss", int patience = 0, double minDelta = 0, bool? higherIsBetter = null, bool restoreBestWeights = false)
    : MonitorCallback(monitor, higherIsBetter, minDelta)
{
    int wait;
    (TensorTree Params, TensorTree ModelState)? bestVariables;

    /// <summary>Epochs without improvement before stopping.</summary>
    public int Patience { get; } = patience >= 0 ? patience : throw new ArgumentOutOfRangeException(nameof(patience));
    /// <summary>The epoch (0-based) with the best value so far.</summary>
    public int BestEpoch { get; private set; } = -1;

    /// <inheritdoc/>
    public override void OnTrainBegin(TrainingContext context)
    {
        Reset(context.Model);
        wait = 0;
        BestEpoch = -1;
        ReleaseBest();
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(TrainingContext context, int epoch, IReadOnlyDictionary<string, double> logs)
    {
        if (Improves(Read(logs)))
        {
            (wait, BestEpoch) = (0, epoch);
            if (restoreBestWeights)
            {
                ReleaseBest();
                var state = context.Model.State;
                bestVariables = (state.Params.Clone(), state.ModelState.Clone());
            }
        }
        else if (++wait > Patience)
            context.StopTraining($"early stopping: {Monitor} did not improve for {wait} epoch(s) after epoch {BestEpoch + 1}");
    }

    /// <inheritdoc/>
    public override void OnTrainEnd(TrainingContext context)
    {
        if (bestVariables is { } b)
        {
            context.Model.RestoreVariables(b.Params, b.ModelState);
            bestVariables = null;
        }
    }

    void ReleaseBest()
    {
        if (bestVariables is { } b)
        {
            b.Params.Dispose();
            b.ModelState.Dispose();
        }
        bestVariables = null;
    }
}
