using Functional.TensorBoard;
using Functional.Training;

namespace Functional.ModelOptimization;

/// <summary>
/// Writes a pruned model's sparsity to TensorBoard after every epoch (tfmot's
/// <c>PruningSummaries</c>): "sparsity/PATH" for each pruned parameter and "sparsity/total", in
/// the run <c>logDir/train</c>, beside <see cref="TensorBoardLogger"/>'s scalars when both are
/// given the same folder.
/// </summary>
/// <param name="logDir">The run's folder.</param>
public sealed class PruningSummaries(string logDir) : Callback
{
    /// <inheritdoc/>
    public override bool WritesOutput => true;

    EventFile? events;

    /// <summary>The run's folder.</summary>
    public string LogDir { get; } = logDir ?? throw new ArgumentNullException(nameof(logDir));

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The model's optimizer does not prune.</exception>
    public override void OnTrainBegin(TrainingContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Pruning.Masks(context.Model.State.OptState) is null)
            throw new ArgumentException($"PruningSummaries: model '{context.Model.Network.Name}' does not prune (its optimizer was not made by Pruning.Magnitude).", nameof(context));
        events = new EventFile(Path.Combine(LogDir, "train"), "pruning");
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(TrainingContext context, int epoch, IReadOnlyDictionary<string, double> logs)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (events is null) return;
        var report = Pruning.Report(context.Model);
        var summary = new Tensorboard.Summary();
        foreach (var p in report.Parameters.Append(new ParameterSparsity("total", report.Count, report.Zeros)))
            summary.Value.Add(new Tensorboard.Summary.Types.Value { Tag = "sparsity/" + p.Path, SimpleValue = (float)p.Sparsity });
        events.Write(summary, epoch);
    }
}
