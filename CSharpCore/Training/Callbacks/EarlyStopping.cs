using Functional.Trees;

namespace Functional.Training;

/// <summary>
/// Stops training when <see cref="Monitor"/> has not improved by more than
/// <see cref="MinDelta"/> for <see cref="Patience"/> epochs; optionally puts back the parameters
/// of the best epoch.
/// </summary>
/// <param name="monitor">A logged name, e.g. "val_loss" or "val_accuracy".</param>
/// <param name="patience">Epochs without improvement before stopping.</param>
/// <param name="minDelta">Smallest change that counts as improvement.</param>
/// <param name="higherIsBetter">Direction; by default true for names containing "acc", "auc",
/// "precision", "recall" or "f1", false otherwise.</param>
/// <param name="restoreBestWeights">At the end, restore the parameters and model state of the best epoch.</param>
public sealed class EarlyStopping(
    string monitor = "val_loss", int patience = 0, double minDelta = 0, bool? higherIsBetter = null, bool restoreBestWeights = false) : Callback
{
    double best;
    int wait;
    (TensorTree Params, TensorTree ModelState)? bestVariables;

    /// <summary>The watched log name.</summary>
    public string Monitor { get; } = monitor;
    /// <summary>Epochs without improvement before stopping.</summary>
    public int Patience { get; } = patience >= 0 ? patience : throw new ArgumentOutOfRangeException(nameof(patience));
    /// <summary>Smallest improvement.</summary>
    public double MinDelta { get; } = Math.Abs(minDelta);
    /// <summary>Direction of improvement.</summary>
    public bool HigherIsBetter { get; } = higherIsBetter ??
        new[] { "acc", "auc", "precision", "recall", "f1" }.Any(monitor.Contains);
    /// <summary>The epoch (0-based) with the best value so far.</summary>
    public int BestEpoch { get; private set; } = -1;

    /// <inheritdoc/>
    public override void OnTrainBegin(TrainingContext context)
    {
        best = HigherIsBetter ? double.NegativeInfinity : double.PositiveInfinity;
        wait = 0;
        BestEpoch = -1;
        ReleaseBest();
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(TrainingContext context, int epoch, IReadOnlyDictionary<string, double> logs)
    {
        if (!logs.TryGetValue(Monitor, out var value))
            throw new InvalidOperationException(
                $"EarlyStopping monitors '{Monitor}', which is not logged; logged: {string.Join(", ", logs.Keys)}. (Validation values need validation data.)");
        bool improved = HigherIsBetter ? value > best + MinDelta : value < best - MinDelta;
        if (improved)
        {
            (best, wait, BestEpoch) = (value, 0, epoch);
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
