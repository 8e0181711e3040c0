namespace Functional.Training;

/// <summary>
/// Base of the callbacks that watch one logged value (Keras's MonitorCallback): EarlyStopping,
/// ReduceLearningRateOnPlateau, ModelCheckpoint with saveBestOnly. Whether higher is better comes
/// from what is monitored when training begins: the loss (and any "..._loss") is lower-is-better;
/// a metric of the model says itself (<see cref="Metrics.Metric.HigherIsBetter"/>); anything else
/// needs an explicit direction. "val_" names follow their training counterparts.
/// </summary>
public abstract class MonitorCallback : Callback
{
    readonly bool? explicitDirection;
    bool? direction;

    /// <summary>Watches <paramref name="monitor"/>; <paramref name="higherIsBetter"/> overrides the direction.</summary>
    protected MonitorCallback(string monitor, bool? higherIsBetter, double minDelta)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(monitor);
        if (!double.IsFinite(minDelta)) throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta, "minDelta must be finite.");
        (Monitor, explicitDirection, direction, MinDelta) = (monitor, higherIsBetter, higherIsBetter, Math.Abs(minDelta));
    }

    /// <summary>The watched log name, e.g. "val_loss" or "val_accuracy".</summary>
    public string Monitor { get; }

    /// <summary>Smallest change that counts as an improvement.</summary>
    public double MinDelta { get; }

    /// <summary>Direction of improvement: given, or decided when training begins.</summary>
    /// <exception cref="InvalidOperationException">Not given, and training has not begun.</exception>
    public bool HigherIsBetter => direction ?? throw new InvalidOperationException(
        $"{GetType().Name}: whether higher '{Monitor}' is better is decided when training begins (or pass higherIsBetter).");

    /// <summary>The best value seen since training began.</summary>
    protected double Best { get; private set; }

    /// <summary>Decides the direction for <paramref name="model"/> and forgets the best value.</summary>
    protected void Reset(Model model)
    {
        direction = explicitDirection ?? DirectionOf(model);
        Best = HigherIsBetter ? double.NegativeInfinity : double.PositiveInfinity;
    }

    /// <summary>The monitored value in <paramref name="logs"/>; a clear exception when it is not logged.</summary>
    protected double Read(IReadOnlyDictionary<string, double> logs) => logs.TryGetValue(Monitor, out var value) ? value
        : throw new InvalidOperationException(
            $"{GetType().Name} monitors '{Monitor}', which is not logged; logged: {string.Join(", ", logs.Keys)}. (Validation values need validation data.)");

    /// <summary>Whether <paramref name="value"/> improves on the best by more than <see cref="MinDelta"/>; if so it becomes the best.</summary>
    protected bool Improves(double value)
    {
        bool improves = HigherIsBetter ? value > Best + MinDelta : value < Best - MinDelta;
        if (improves) Best = value;
        return improves;
    }

    bool DirectionOf(Model model)
    {
        var name = Monitor.StartsWith("val_", StringComparison.Ordinal) ? Monitor[4..] : Monitor;
        if (name == "loss" || name.EndsWith("_loss", StringComparison.Ordinal)) return false;
        var metric = model.LoggedMetrics.FirstOrDefault(m => m.Name == name).Metric;
        return metric?.HigherIsBetter ?? throw new InvalidOperationException(metric is null
            ? $"{GetType().Name} monitors '{Monitor}', which is neither the loss nor one of the model's metrics ({string.Join(", ", model.LoggedMetrics.Select(m => m.Name))}): pass higherIsBetter."
            : $"{GetType().Name} monitors '{Monitor}', whose metric does not say whether higher is better: pass higherIsBetter.");
    }
}
