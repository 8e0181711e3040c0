namespace Functional.Training;

/// <summary>
/// Hooks into <see cref="Model.Fit(IBatchSource, FitOptions?, CancellationToken)"/>. Override what you need; call
/// <see cref="TrainingContext.StopTraining"/> to end training after the current epoch.
/// </summary>
public abstract class Callback
{
    /// <summary>Whether this callback reads <see cref="TrainingContext.Gradients"/>; Fit then keeps
    /// a copy of each step's gradients (a cost of one parameter-sized copy per step).</summary>
    public virtual bool NeedsGradients => false;

    /// <summary>Whether this callback writes files or shows output (TensorBoard, checkpoints, CSV
    /// logs, the profiler): in data-parallel training only rank 0 runs it. Callbacks that change
    /// training (early stopping, learning-rate schedules) run on every rank, on the same
    /// reduced logs, so every rank decides the same.</summary>
    public virtual bool WritesOutput => false;

    /// <summary>Before the first epoch.</summary>
    public virtual void OnTrainBegin(TrainingContext context) { }

    /// <summary>Before each epoch (0-based).</summary>
    public virtual void OnEpochBegin(TrainingContext context, int epoch) { }

    /// <summary>After each training step, with that batch's loss.</summary>
    public virtual void OnBatchEnd(TrainingContext context, long step, double loss) { }

    /// <summary>After each epoch, with its logs (loss, metrics, validation values).</summary>
    public virtual void OnEpochEnd(TrainingContext context, int epoch, IReadOnlyDictionary<string, double> logs) { }

    /// <summary>After the last epoch, or when training stopped.</summary>
    public virtual void OnTrainEnd(TrainingContext context) { }
}

/// <summary>What callbacks see of a running Fit.</summary>
public sealed class TrainingContext(Model model, History history)
{
    /// <summary>The model being trained; its <see cref="Model.State"/> is the current state.</summary>
    public Model Model { get; } = model;

    /// <summary>The history so far.</summary>
    public History History { get; } = history;

    /// <summary>The last step's gradients, when a callback asked for them
    /// (<see cref="Callback.NeedsGradients"/>); owned by Fit, valid until the next step.</summary>
    public Trees.TensorTree? Gradients { get; private set; }

    internal void KeepGradients(Trees.TensorTree gradients)
    {
        Gradients?.Dispose();
        Gradients = gradients;
    }

    internal void ReleaseGradients()
    {
        Gradients?.Dispose();
        Gradients = null;
    }

    /// <summary>Whether Fit is ending because of an exception or a cancellation (seen by
    /// <see cref="Callback.OnTrainEnd"/>); a callback asking to stop is not an interruption.</summary>
    public bool Interrupted { get; internal set; }

    /// <summary>Set once a callback asked to stop.</summary>
    public string? StopReason { get; private set; }

    /// <summary>Ends training after the current epoch (or at once, between steps), recording why.</summary>
    public void StopTraining(string reason) => StopReason ??= reason;
}

/// <summary>A callback from delegates, for quick hooks.</summary>
public sealed class LambdaCallback(
    Action<TrainingContext, int, IReadOnlyDictionary<string, double>>? onEpochEnd = null,
    Action<TrainingContext, long, double>? onBatchEnd = null) : Callback
{
    /// <inheritdoc/>
    public override void OnEpochEnd(TrainingContext context, int epoch, IReadOnlyDictionary<string, double> logs) =>
        onEpochEnd?.Invoke(context, epoch, logs);

    /// <inheritdoc/>
    public override void OnBatchEnd(TrainingContext context, long step, double loss) => onBatchEnd?.Invoke(context, step, loss);
}
