namespace Functional.Training;

/// <summary>Every logged value per epoch ("loss", "accuracy", "val_loss", ...), and why training stopped.</summary>
public sealed class History
{
    readonly Dictionary<string, List<double>> values = new(StringComparer.Ordinal);

    /// <summary>The values of one metric, one per epoch.</summary>
    public IReadOnlyList<double> this[string name] =>
        values.TryGetValue(name, out var list) ? list
        : throw new KeyNotFoundException($"History has no '{name}'; it has {string.Join(", ", values.Keys.Select(k => $"'{k}'"))}.");

    /// <summary>The names logged.</summary>
    public IEnumerable<string> Names => values.Keys;

    /// <summary>Number of completed epochs.</summary>
    public int Epochs { get; private set; }

    /// <summary>Why training ended early (early stopping, a NaN loss, a callback), or null.</summary>
    public string? StopReason { get; internal set; }

    /// <summary>Where each epoch's training time went (see <see cref="Training.StepTimes"/>).</summary>
    public IReadOnlyList<StepTimes> StepTimes => stepTimes;
    readonly List<StepTimes> stepTimes = [];

    internal void Add(IReadOnlyDictionary<string, double> logs, StepTimes times)
    {
        stepTimes.Add(times);
        foreach (var (name, value) in logs)
        {
            if (!values.TryGetValue(name, out var list)) values[name] = list = [];
            list.Add(value);
        }
        Epochs++;
    }
}
