using System.Text;
using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>
/// How often each class was predicted as each other class: <c>Counts[actual, predicted]</c>.
/// Build it from a model that scores each class (<see cref="Of"/>: the highest score is the
/// prediction) or from predicted classes (<see cref="FromPredictions"/>). <see cref="ToString"/>
/// is a text table; Functional.Plots draws it as a heatmap and <see cref="ClassificationImages"/>
/// logs it to TensorBoard.
/// </summary>
public sealed class ConfusionMatrix
{
    ConfusionMatrix(long[,] counts, IReadOnlyList<string> classNames) => (Counts, ClassNames) = (counts, classNames);

    /// <summary>Counts[actual, predicted].</summary>
    public long[,] Counts { get; }
    /// <summary>The classes' names (the model's <see cref="Model.ClassNames"/>, or "0", "1", ...).</summary>
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>The number of classes.</summary>
    public int Classes => ClassNames.Count;
    /// <summary>Examples counted.</summary>
    public long Total => Counts.Cast<long>().Sum();
    /// <summary>The share on the diagonal.</summary>
    public double Accuracy => Total == 0 ? 0 : (double)Enumerable.Range(0, Classes).Sum(i => Counts[i, i]) / Total;

    /// <summary>The confusion matrix of <paramref name="model"/> on <paramref name="inputs"/>:
    /// each row's prediction is its highest-scoring class.</summary>
    /// <exception cref="ArgumentException">The model does not score classes (its output's last
    /// dimension is below 2), or the targets are not class ids in range.</exception>
    public static ConfusionMatrix Of(Model model, Tensor inputs, Tensor targets, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        if (model.OutputShape is not [.., var classes] || classes < 2)
            throw new ArgumentException(
                $"ConfusionMatrix.Of needs a model that scores each class (an output whose last dimension is the classes); model '{model.Network.Name}' outputs ({string.Join(", ", model.OutputShape)}). For a one-unit binary classifier, threshold its predictions and use FromPredictions.", nameof(model));
        using var scope = NewDisposeScope();
        var predicted = model.Predict(inputs, batchSize).argmax(-1);
        return FromPredictions(predicted, targets, (int)classes, model.ClassNames);
    }

    /// <summary>The confusion matrix of predicted class ids against target class ids (same shape).</summary>
    public static ConfusionMatrix FromPredictions(Tensor predicted, Tensor targets, int classes, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        if (classNames is not null && classNames.Count != classes)
            throw new ArgumentException($"ConfusionMatrix: {classNames.Count} class names for {classes} classes.", nameof(classNames));
        if (!predicted.shape.SequenceEqual(targets.shape))
            throw new ArgumentException($"ConfusionMatrix: predictions ({string.Join(", ", predicted.shape)}) and targets ({string.Join(", ", targets.shape)}) differ in shape.");
        if (predicted.is_floating_point() || targets.is_floating_point())
            throw new ArgumentException($"ConfusionMatrix: predictions and targets are class ids (integers); got {predicted.dtype} and {targets.dtype}.");
        using var scope = NewDisposeScope();
        var (p, t) = (predicted.reshape(-1).to_type(ScalarType.Int64), targets.reshape(-1).to_type(ScalarType.Int64));
        if (t.numel() > 0)
        {
            long low = Math.Min(p.min().item<long>(), t.min().item<long>()), high = Math.Max(p.max().item<long>(), t.max().item<long>());
            if (low < 0 || high >= classes)
                throw new ArgumentOutOfRangeException(nameof(targets), $"ConfusionMatrix: class ids must be in [0, {classes}); got values from {low} to {high}.");
        }
        var flat = bincount(t * classes + p, minlength: classes * classes).cpu().data<long>().ToArray();
        var counts = new long[classes, classes];
        for (int i = 0; i < classes; i++)
            for (int j = 0; j < classes; j++) counts[i, j] = flat[i * classes + j];
        return new ConfusionMatrix(counts, classNames?.ToArray() ?? [.. Enumerable.Range(0, classes).Select(i => i.ToString())]);
    }

    /// <summary>A row's counts as shares of that row (recall per class on the diagonal).</summary>
    public double[,] RowShares()
    {
        var shares = new double[Classes, Classes];
        for (int i = 0; i < Classes; i++)
        {
            long row = Enumerable.Range(0, Classes).Sum(j => Counts[i, j]);
            for (int j = 0; j < Classes; j++) shares[i, j] = row == 0 ? 0 : (double)Counts[i, j] / row;
        }
        return shares;
    }

    /// <summary>A table: a row per actual class, a column per predicted class.</summary>
    public override string ToString()
    {
        const string corner = "actual \\ predicted";
        int first = Math.Max(corner.Length + 1, ClassNames.Max(n => n.Length) + 2);
        int width = Math.Max(ClassNames.Max(n => n.Length), Counts.Cast<long>().Max().ToString().Length) + 1;
        var text = new StringBuilder(corner.PadRight(first));
        foreach (var name in ClassNames) text.Append(name.PadLeft(width));
        text.AppendLine();
        for (int i = 0; i < Classes; i++)
        {
            text.Append(ClassNames[i].PadRight(first));
            for (int j = 0; j < Classes; j++) text.Append(Counts[i, j].ToString().PadLeft(width));
            text.AppendLine();
        }
        return text.ToString();
    }
}
