using System.Globalization;

namespace Functional.Training;

/// <summary>
/// Writes one CSV row per epoch (epoch, then every log in name order) to <see cref="Path"/>,
/// flushed after each epoch so a crash loses at most the current one.
/// </summary>
public sealed class CsvLogger(string path, bool append = false) : Callback
{
    /// <inheritdoc/>
    public override bool WritesOutput => true;

    StreamWriter? writer;
    string[]? columns;

    /// <summary>The file written.</summary>
    public string Path { get; } = path;

    /// <inheritdoc/>
    public override void OnTrainBegin(TrainingContext context)
    {
        bool continuing = append && File.Exists(Path) && new FileInfo(Path).Length > 0;
        writer = new StreamWriter(Path, append: continuing);
        columns = null;
        if (continuing) columns = File.ReadLines(Path).First().Split(',').Skip(1).ToArray();
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(TrainingContext context, int epoch, IReadOnlyDictionary<string, double> logs)
    {
        if (writer is null) return;
        if (columns is null)
        {
            columns = [.. logs.Keys.Order(StringComparer.Ordinal)];
            writer.WriteLine(string.Join(',', ["epoch", .. columns]));
        }
        var values = columns.Select(c => logs.TryGetValue(c, out var v) ? v.ToString("R", CultureInfo.InvariantCulture) : "");
        writer.WriteLine(string.Join(',', [(epoch + 1).ToString(CultureInfo.InvariantCulture), .. values]));
        writer.Flush();
    }

    /// <inheritdoc/>
    public override void OnTrainEnd(TrainingContext context)
    {
        writer?.Dispose();
        writer = null;
    }
}
