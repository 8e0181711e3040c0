using Functional.TensorBoard;
using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>
/// Shows a classifier's mistakes in TensorBoard's Images dashboard, after every
/// <paramref name="every"/>-th epoch, in the run <c>logDir/validation</c> (beside what
/// <see cref="TensorBoardLogger"/> writes): the confusion matrix on <paramref name="data"/> as
/// "confusion_matrix" (row shares, white to dark blue; actual classes down, predicted across;
/// the table as its description), and the first <paramref name="samples"/> inputs, when they
/// are images (N, C, H, W) with 1 or 3 channels and values in [0, 1], as "predictions/i",
/// framed green when predicted right and red when wrong, described "predicted 7, true 2".
/// </summary>
/// <param name="data">Labelled examples (a validation set, or part of one).</param>
/// <param name="logDir">The run's folder, as given to TensorBoardLogger.</param>
/// <param name="samples">Sample predictions to draw (0: none).</param>
/// <param name="every">Epochs between two images.</param>
public sealed class ClassificationImages(LabeledData data, string logDir, int samples = 8, int every = 1) : Callback
{
    /// <inheritdoc/>
    public override bool WritesOutput => true;

    EventFile? events;

    /// <summary>The examples.</summary>
    public LabeledData Data { get; } = data ?? throw new ArgumentNullException(nameof(data));
    /// <summary>The run's folder.</summary>
    public string LogDir { get; } = logDir ?? throw new ArgumentNullException(nameof(logDir));
    /// <summary>Sample predictions drawn.</summary>
    public int Samples { get; } = samples >= 0 ? samples : throw new ArgumentOutOfRangeException(nameof(samples), samples, "Samples is 0 or more.");
    /// <summary>Epochs between two images.</summary>
    public int Every { get; } = every >= 1 ? every : throw new ArgumentOutOfRangeException(nameof(every), every, "Every is at least 1.");

    /// <inheritdoc/>
    public override void OnTrainBegin(TrainingContext context) => events = new EventFile(Path.Combine(LogDir, "validation"), "images");

    /// <inheritdoc/>
    public override void OnEpochEnd(TrainingContext context, int epoch, IReadOnlyDictionary<string, double> logs)
    {
        if (events is null || (epoch + 1) % Every != 0) return;
        var (inputs, targets) = (Data.Inputs.Leaves[0], Data.Targets.Leaves[0]);
        var matrix = ConfusionMatrix.Of(context.Model, inputs, targets);
        var summary = new Tensorboard.Summary();
        summary.Value.Add(Image("confusion_matrix", MatrixPixels(matrix), matrix.ToString()));
        if (Samples > 0 && inputs.dim() == 4 && inputs.shape[1] is 1 or 3)
        {
            using var scope = NewDisposeScope();
            int n = (int)Math.Min(Samples, inputs.shape[0]);
            var predicted = context.Model.Predict(inputs[..n]).argmax(-1).cpu().data<long>().ToArray();
            var actual = targets[..n].to_type(ScalarType.Int64).reshape(-1).cpu().data<long>().ToArray();
            for (int i = 0; i < n; i++)
                summary.Value.Add(Image($"predictions/{i}", Framed(inputs[i], predicted[i] == actual[i]),
                    $"predicted {matrix.ClassNames[(int)predicted[i]]}, true {matrix.ClassNames[(int)actual[i]]}"));
        }
        events.Write(summary, epoch);
    }

    /// <inheritdoc/>
    public override void OnTrainEnd(TrainingContext context) => events = null;

    static Tensorboard.Summary.Types.Value Image(string tag, (byte[] Rgb, int Height, int Width) image, string description) => new()
    {
        Tag = tag,
        Metadata = new Tensorboard.SummaryMetadata { SummaryDescription = description },
        Image = new Tensorboard.Summary.Types.Image
        {
            Height = image.Height, Width = image.Width, Colorspace = 3,
            EncodedImageString = Google.Protobuf.ByteString.CopyFrom(Png.Encode(image.Rgb, image.Height, image.Width, 3)),
        },
    };

    /// <summary>The matrix as square cells, white (no examples) to dark blue (the whole row).</summary>
    internal static (byte[] Rgb, int Height, int Width) MatrixPixels(ConfusionMatrix matrix)
    {
        int classes = matrix.Classes, cell = Math.Clamp(320 / classes, 2, 32), size = classes * cell;
        var shares = matrix.RowShares();
        var rgb = new byte[size * size * 3];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                double s = shares[y / cell, x / cell];
                int at = (y * size + x) * 3;
                (rgb[at], rgb[at + 1], rgb[at + 2]) = ((byte)(255 * (1 - s)), (byte)(255 * (1 - 0.8 * s)), (byte)(255 - 115 * s));
            }
        return (rgb, size, size);
    }

    /// <summary>An image (C, H, W) in [0, 1] as RGB inside a 2-pixel frame, green or red.</summary>
    static (byte[] Rgb, int Height, int Width) Framed(Tensor image, bool right)
    {
        const int frame = 2;
        using var scope = NewDisposeScope();
        var pixels = (image.detach().cpu().to_type(ScalarType.Float32).clamp(0, 1) * 255).round().to_type(ScalarType.Byte);
        if (pixels.shape[0] == 1) pixels = pixels.expand(3, -1, -1);
        int height = (int)pixels.shape[1], width = (int)pixels.shape[2];
        var inner = pixels.permute(1, 2, 0).contiguous().data<byte>().ToArray();
        int h = height + 2 * frame, w = width + 2 * frame;
        var rgb = new byte[h * w * 3];
        (byte r, byte g, byte b) = right ? ((byte)40, (byte)170, (byte)60) : ((byte)220, (byte)40, (byte)40);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int at = (y * w + x) * 3;
                bool border = y < frame || x < frame || y >= h - frame || x >= w - frame;
                if (border) (rgb[at], rgb[at + 1], rgb[at + 2]) = (r, g, b);
                else Array.Copy(inner, ((y - frame) * width + (x - frame)) * 3, rgb, at, 3);
            }
        return (rgb, h, w);
    }
}
