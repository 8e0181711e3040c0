using Functional.TensorBoard;
using Functional.Training;

namespace Functional.Tuning;

/// <summary>
/// Runs one training per trial and logs each as a session of TensorBoard's HParams dashboard:
/// under <c>logDir</c> the experiment (every hyperparameter with its domain, every metric),
/// and per trial a run <c>trial_N</c> with its values, its final metrics (the last epoch's value
/// of each name in its History: "loss", "val_accuracy", ...) and its status. Give the trial's
/// <see cref="Trial.Options"/> to Fit and its curves are logged there too (a
/// <see cref="TensorBoardLogger"/> in the trial's folder), so TensorBoard shows them beside the table.
/// Open with <c>tensorboard --logdir logDir</c>.
/// </summary>
/// <example><code>
/// var result = HyperparameterSearch.Run(space.Grid(), "runs/search", trial =>
/// {
///     using var model = new Model(Network(trial.Values.Int("units")), [784], loss, Optimizer.Adam(trial.Values.Double("learning_rate")));
///     return model.Fit(x, y, trial.Options(new FitOptions { Epochs = 5, ValidationSplit = 0.2 }));
/// });
/// Console.WriteLine(result.Best);
/// </code></example>
public static class HyperparameterSearch
{
    /// <summary>
    /// Trains each of <paramref name="trials"/> in turn with <paramref name="train"/> and logs
    /// it; a trial that throws is logged as failed and the search goes on (its error is in the
    /// result; a cancellation stops the search). The best trial is the one with the lowest <paramref name="objective"/> (the
    /// highest when <paramref name="maximize"/>, which defaults to true for names that do not
    /// contain "loss" or "error").
    /// </summary>
    /// <exception cref="ArgumentException">No trials, or trials of different hyperparameters.</exception>
    public static SearchResult Run(IReadOnlyList<Hyperparameters> trials, string logDir, Func<Trial, History> train,
        string objective = "val_loss", bool? maximize = null)
    {
        ArgumentNullException.ThrowIfNull(trials);
        ArgumentNullException.ThrowIfNull(logDir);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(objective);
        if (trials.Count == 0) throw new ArgumentException("A search needs at least one trial.", nameof(trials));
        var names = trials[0].Values.Keys.ToArray();
        if (trials.FirstOrDefault(t => !t.Values.Keys.SequenceEqual(names)) is { } odd)
            throw new ArgumentException($"Every trial needs the same hyperparameters ({string.Join(", ", names)}); one has {string.Join(", ", odd.Values.Keys)}.", nameof(trials));
        foreach (var name in names)
            if (trials.Select(t => HyperparameterSpace.KindOf(t.Values[name])).Distinct().Count() > 1)
                throw new ArgumentException($"Hyperparameter '{name}' takes values of different kinds across the trials; give it all numbers, all strings or all booleans.", nameof(trials));
        bool higherIsBetter = maximize ?? !(objective.Contains("loss", StringComparison.OrdinalIgnoreCase) || objective.Contains("error", StringComparison.OrdinalIgnoreCase));
        var results = new List<TrialResult>(trials.Count);
        for (int i = 0; i < trials.Count; i++)
        {
            var trial = new Trial(i, trials[i], Path.Combine(logDir, $"trial_{i}"));
            var session = new EventFile(trial.LogDir, "hparams");
            session.Write(HParamsPlugin.SessionStart(trial.Values.Values, trial.Name), 0);
            try
            {
                var history = train(trial) ?? throw new InvalidOperationException($"Trial {i} ({trial.Values}): the training function returned no History.");
                var final = history.Names.ToDictionary(n => n, n => history[n][^1]);
                var summary = new Tensorboard.Summary();
                foreach (var (name, value) in final) summary.Value.Add(new Tensorboard.Summary.Types.Value { Tag = name, SimpleValue = (float)value });
                session.Write(summary, history.Epochs);
                session.Write(HParamsPlugin.SessionEnd(succeeded: true), history.Epochs);
                results.Add(new TrialResult(trial, final, null));
            }
            catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException))
            {
                session.Write(HParamsPlugin.SessionEnd(succeeded: false), 0);
                results.Add(new TrialResult(trial, new Dictionary<string, double>(), e));
            }
        }
        // The experiment goes last: it names every metric any trial logged.
        var metrics = results.SelectMany(r => r.Metrics.Keys).Distinct().ToList();
        new EventFile(logDir, "hparams").Write(HParamsPlugin.Experiment(Path.GetFileName(Path.GetFullPath(logDir)), Describe(trials), metrics), 0);
        return new SearchResult(results, objective, higherIsBetter);
    }

    /// <summary>Each hyperparameter's domain as the dashboard filters it: the values the trials take.</summary>
    static IEnumerable<HParamsPlugin.HParam> Describe(IReadOnlyList<Hyperparameters> trials)
    {
        foreach (var name in trials[0].Values.Keys)
        {
            var values = trials.Select(t => t.Values[name]).Distinct().ToList();
            var type = values[0] switch { string => HParamsPlugin.DataType.String, bool => HParamsPlugin.DataType.Bool, _ => HParamsPlugin.DataType.Float64 };
            if (type == HParamsPlugin.DataType.Float64 && values.Count > 10)
                yield return new(name, type, null, (values.Min(v => (double)v), values.Max(v => (double)v)));
            else yield return new(name, type, values, null);
        }
    }
}

/// <summary>One trial of a search: its number, values and folder.</summary>
/// <param name="Number">0, 1, ...</param>
/// <param name="Values">Its hyperparameters.</param>
/// <param name="LogDir">Its TensorBoard run folder (<c>logDir/trial_N</c>).</param>
public sealed record Trial(int Number, Hyperparameters Values, string LogDir)
{
    /// <summary>Its session name, "trial_N".</summary>
    public string Name => $"trial_{Number}";

    /// <summary><paramref name="options"/> with a <see cref="TensorBoardLogger"/> writing to the
    /// trial's folder added to its callbacks (and the progress display off).</summary>
    public FitOptions Options(FitOptions? options = null)
    {
        options ??= new FitOptions();
        return options with { Callbacks = [.. options.Callbacks, new TensorBoardLogger(LogDir, histograms: false)], Verbosity = Verbosity.Silent };
    }
}

/// <summary>What one trial gave: the last epoch's value of each logged name, or the error it threw.</summary>
public sealed record TrialResult(Trial Trial, IReadOnlyDictionary<string, double> Metrics, Exception? Error)
{
    /// <summary>Whether it trained to the end.</summary>
    public bool Succeeded => Error is null;

    /// <summary>"trial_2 (units=64, learning_rate=0.001): val_loss=0.3120, ...", or its error.</summary>
    public override string ToString() =>
        $"{Trial.Name} ({Trial.Values}): " + (Error is { } e ? $"failed: {e.Message}" : string.Join(", ", Metrics.Select(m => $"{m.Key}={m.Value:F4}")));
}

/// <summary>Every trial's result and the best one by the objective.</summary>
public sealed class SearchResult
{
    internal SearchResult(IReadOnlyList<TrialResult> trials, string objective, bool maximize) =>
        (Trials, Objective, Maximize) = (trials, objective, maximize);

    /// <summary>Every trial, in order.</summary>
    public IReadOnlyList<TrialResult> Trials { get; }
    /// <summary>The metric that ranks trials.</summary>
    public string Objective { get; }
    /// <summary>Whether higher is better.</summary>
    public bool Maximize { get; }

    /// <summary>The succeeded trial with the best objective.</summary>
    /// <exception cref="InvalidOperationException">No trial succeeded, or none logged the objective.</exception>
    public TrialResult Best
    {
        get
        {
            var ranked = Trials.Where(t => t.Succeeded && t.Metrics.ContainsKey(Objective) && double.IsFinite(t.Metrics[Objective])).ToList();
            if (ranked.Count == 0)
            {
                var logged = Trials.SelectMany(t => t.Metrics.Keys).Distinct().ToList();
                throw new InvalidOperationException(Trials.All(t => !t.Succeeded)
                    ? $"Every trial failed; the first: {Trials[0].Error!.Message}"
                    : $"No trial logged '{Objective}'; they logged {string.Join(", ", logged)}.");
            }
            return Maximize ? ranked.MaxBy(t => t.Metrics[Objective])! : ranked.MinBy(t => t.Metrics[Objective])!;
        }
    }
}
