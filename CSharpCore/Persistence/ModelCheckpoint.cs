using System.Globalization;
using Functional.Training;

namespace Functional.Persistence;

/// <summary>
/// Saves the training state (parameters, model state, optimizer state, step, seed) after each
/// epoch, or only when <see cref="Monitor"/> improves. "{epoch}" in the path is replaced by the
/// epoch number (1-based). Files are written atomically; with <paramref name="keepLast"/> only the
/// newest that many are kept (with <paramref name="saveBestOnly"/>: the best ones). Resume with
/// <c>model.Resume(TrainStateFile.Load(path))</c>.
/// </summary>
public sealed class ModelCheckpoint(
    string path, string monitor = "val_loss", bool saveBestOnly = false, bool? higherIsBetter = null, int? keepLast = null)
    : MonitorCallback(monitor, higherIsBetter, 0)
{
    /// <inheritdoc/>
    public override bool WritesOutput => true;


    /// <summary>The path pattern.</summary>
    public string Path { get; } = path ?? throw new ArgumentNullException(nameof(path));
    /// <summary>Whether only improvements are saved.</summary>
    public bool SaveBestOnly { get; } = saveBestOnly;
    /// <summary>How many of the newest files are kept (all when null).</summary>
    public int? KeepLast { get; } = keepLast is null or > 0 ? keepLast : throw new ArgumentOutOfRangeException(nameof(keepLast), keepLast, "keepLast must be positive.");
    /// <summary>The files written and still kept, oldest first.</summary>
    public List<string> Saved { get; } = [];

    /// <inheritdoc/>
    public override void OnTrainBegin(TrainingContext context)
    {
        if (SaveBestOnly) Reset(context.Model);
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(TrainingContext context, int epoch, IReadOnlyDictionary<string, double> logs)
    {
        if (SaveBestOnly)
        {
            if (!Improves(Read(logs))) return;
        }
        var file = Path.Replace("{epoch}", (epoch + 1).ToString(CultureInfo.InvariantCulture));
        TrainStateFile.Save(file, context.Model.State);
        Saved.Remove(file);
        Saved.Add(file);
        while (KeepLast is { } k && Saved.Count > k)
        {
            File.Delete(Saved[0]);
            Saved.RemoveAt(0);
        }
    }
}
