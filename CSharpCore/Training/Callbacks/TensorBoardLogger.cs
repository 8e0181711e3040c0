using Functional.TensorBoard;
using Functional.Optimizers;
using TorchSharp;

namespace Functional.Training;

/// <summary>
/// Writes TensorBoard event files, in Keras's layout: <c>logDir/train</c> and
/// <c>logDir/validation</c>. Per epoch: every logged value as "epoch/NAME" (validation values in
/// the validation run, so TensorBoard overlays them), the learning-rate multiplier, the share of
/// time spent waiting for input, and histograms of the weights as "weights/PATH"; every
/// <see cref="BatchFrequency"/> steps: "batch/loss"; once: the model summary as text; on request,
/// histograms of the gradients as "gradients/PATH" and sample images as "samples/i"; the model
/// graph (a node per layer call). The
/// step-time breakdown goes to "time/input_s", "time/forward_s", "time/backward_s",
/// "time/optimizer_s", "time/callbacks_s" and "time/other_s".
/// Open with <c>tensorboard --logdir logDir</c>.
/// </summary>
/// <param name="logDir">The run's folder.</param>
/// <param name="histograms">Write weight histograms every epoch.</param>
/// <param name="batchFrequency">Write the batch loss every this many steps (0: never).</param>
/// <param name="gradientHistograms">Also write histograms of the epoch's last gradients as
/// "gradients/PATH" (Fit then copies each step's gradients).</param>
/// <param name="sampleImages">Images (N, C, H, W) with values in [0, 1] and 1 or 3 channels, written
/// once as "samples/0", "samples/1", ... (e.g. a few inputs, to see what the model sees).</param>
public sealed class TensorBoardLogger(
    string logDir, bool histograms = true, int batchFrequency = 0, bool gradientHistograms = false, torch.Tensor? sampleImages = null) : Callback
{
    /// <inheritdoc/>
    public override bool WritesOutput => true;

    /// <inheritdoc/>
    public override bool NeedsGradients => gradientHistograms;

    TorchSharp.Modules.SummaryWriter? train, validation;

    /// <summary>The run's folder.</summary>
    public string LogDir { get; } = logDir ?? throw new ArgumentNullException(nameof(logDir));
    /// <summary>Steps between batch-loss records (0: none).</summary>
    public int BatchFrequency { get; } = batchFrequency >= 0 ? batchFrequency : throw new ArgumentOutOfRangeException(nameof(batchFrequency));

    /// <inheritdoc/>
    public override void OnTrainBegin(TrainingContext context)
    {
        train = torch.utils.tensorboard.SummaryWriter(Path.Combine(LogDir, "train"));
        validation = torch.utils.tensorboard.SummaryWriter(Path.Combine(LogDir, "validation"));
        train.add_text("model/summary", "```\n" + context.Model.Summary() + "```", (int)context.Model.State.Step);
        var events = new EventFile(Path.Combine(LogDir, "train"), "functional");
        events.Write(ModelGraph.Of(context.Model.Network, context.Model.InputShapes));
        if (sampleImages is not null) WriteImages(events, sampleImages, context.Model.State.Step);
    }

    /// <summary>Writes images as PNG image summaries into our own event file of the train run
    /// (TorchSharp's writer draws images with a native library this platform may lack).</summary>
    static void WriteImages(EventFile file, torch.Tensor images, long step)
    {
        if (images.dim() != 4 || images.shape[1] is not (1 or 3))
            throw new ArgumentException($"TensorBoardLogger: sample images must be (N, C, H, W) with 1 or 3 channels; got ({string.Join(", ", images.shape)}).");
        var summary = new Tensorboard.Summary();
        using var bytes = (images.detach().cpu().clamp(0, 1) * 255).round().to_type(torch.ScalarType.Byte).permute(0, 2, 3, 1).contiguous();
        int n = (int)images.shape[0], channels = (int)images.shape[1], height = (int)images.shape[2], width = (int)images.shape[3];
        var all = bytes.data<byte>().ToArray();
        for (int i = 0; i < n; i++)
        {
            var pixels = all.AsSpan(i * height * width * channels, height * width * channels).ToArray();
            summary.Value.Add(new Tensorboard.Summary.Types.Value
            {
                Tag = $"samples/{i}",
                Image = new Tensorboard.Summary.Types.Image
                {
                    Height = height, Width = width, Colorspace = channels,
                    EncodedImageString = Google.Protobuf.ByteString.CopyFrom(Png.Encode(pixels, height, width, channels)),
                },
            });
        }
        file.Write(summary, step);
    }

    /// <inheritdoc/>
    public override void OnBatchEnd(TrainingContext context, long step, double loss)
    {
        if (BatchFrequency > 0 && step % BatchFrequency == 0) train?.add_scalar("batch/loss", (float)loss, (int)step);
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(TrainingContext context, int epoch, IReadOnlyDictionary<string, double> logs)
    {
        if (train is null || validation is null) return;
        foreach (var (name, value) in logs)
        {
            bool held = name.StartsWith("val_", StringComparison.Ordinal);
            (held ? validation : train).add_scalar("epoch/" + (held ? name[4..] : name), (float)value, epoch);
        }
        var multipliers = LearningRateState.Multipliers(context.Model.State.OptState);
        if (multipliers.Count > 0) train.add_scalar("epoch/lr_multiplier", (float)multipliers[0].item<double>(), epoch);
        if (context.History.StepTimes.Count > 0)
        {
            var times = context.History.StepTimes[^1];
            train.add_scalar("epoch/input_wait_share", (float)times.InputWaitShare, epoch);
            train.add_scalar("time/input_s", (float)times.InputWait.TotalSeconds, epoch);
            train.add_scalar("time/forward_s", (float)times.Forward.TotalSeconds, epoch);
            train.add_scalar("time/backward_s", (float)times.Backward.TotalSeconds, epoch);
            train.add_scalar("time/optimizer_s", (float)times.Optimizer.TotalSeconds, epoch);
            train.add_scalar("time/callbacks_s", (float)times.Callbacks.TotalSeconds, epoch);
            train.add_scalar("time/other_s", (float)times.Other.TotalSeconds, epoch);
        }
        if (histograms) Histograms(train, "weights/", context.Model.State.Params, epoch);
        if (gradientHistograms && context.Gradients is { } gradients) Histograms(train, "gradients/", gradients, epoch);
    }

    static void Histograms(TorchSharp.Modules.SummaryWriter writer, string prefix, Trees.TensorTree tree, int epoch)
    {
        foreach (var (path, tensor) in tree)
        {
            using var values = tensor.detach().to_type(torch.ScalarType.Float64).cpu();
            writer.add_histogram(prefix + path, values, epoch);
        }
    }

    /// <inheritdoc/>
    public override void OnTrainEnd(TrainingContext context) => (train, validation) = (null, null);
}
