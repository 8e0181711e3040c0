using Functional.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Training;

// Inference: Evaluate and Predict.
public sealed partial class Model
{
    /// <summary>Loss and metrics over in-memory data, in inference mode.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(Tensor inputs, Tensor targets, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        if (inputs.dim() == 0 || targets.dim() == 0 || inputs.shape[0] != targets.shape[0])
            throw new ShapeException(
                $"Evaluate: inputs {ShapeException.Format(inputs.shape)} and targets {ShapeException.Format(targets.shape)} need the same number of rows.");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        return Evaluate(new TensorBatches(inputs, targets, batchSize), cancellationToken);
    }

    /// <summary>Loss and metrics over a batch source, in inference mode. The whole pass sees one
    /// state: a Fit running on another thread waits for it at its next step boundary.
    /// Cancelling <paramref name="cancellationToken"/> stops at the next batch with
    /// <see cref="OperationCanceledException"/>.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(IBatchSource data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Reading(() =>
        {
            var (lossSum, count) = (0.0, 0L);
            var metricStates = Metrics.Select(m => m.Init()).ToArray();
            foreach (var (x, y) in data.Batches(0))
            {
                using (x)
                using (y)
                using (var scope = torch.NewDisposeScope())
                using (torch.no_grad())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    CheckInputs(x);
                    var (predictions, _) = Network.Apply(new Variables(State.Params, State.ModelState), x, ApplyContext.Inference);
                    lossSum += Loss.PerExample(predictions, y).to_type(ScalarType.Float64).sum().item<double>();
                    count += Loss.CountedRows(y) is { } counted ? counted.sum().item<long>() : x.shape[0];
                    for (int i = 0; i < Metrics.Count; i++) metricStates[i] = Metrics[i].Update(metricStates[i], predictions, y);
                }
            }
            return Logs(count == 0 ? double.NaN : lossSum / count, metricStates, "");
        });
    }

    /// <summary>The network's outputs for <paramref name="inputs"/>, in inference mode, batch by
    /// batch. One example without a batch dimension (a tensor of <see cref="InputShape"/>) gives
    /// one output without it. Cancelling <paramref name="cancellationToken"/> stops at the next
    /// batch with <see cref="OperationCanceledException"/>.</summary>
    public Tensor Predict(Tensor inputs, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.dim() == InputShape.Length && inputs.shape.SequenceEqual(InputShape))
        {
            if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
            using var batch = inputs.unsqueeze(0);
            using var one = Predict(batch, 1, cancellationToken);
            return one.squeeze(0);
        }
        CheckInputs(inputs);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // One read lock for the whole call: every batch sees the same state, even while Fit runs.
        var result = Reading(() =>
        {
            var outputs = new List<Tensor>();
            for (long start = 0; start < inputs.shape[0]; start += batchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var x = inputs.narrow(0, start, Math.Min(batchSize, inputs.shape[0] - start));
                outputs.Add(Network.Apply(new Variables(State.Params, State.ModelState), x, ApplyContext.Inference).Output);
            }
            return outputs.Count == 0 ? torch.empty([0, .. OutputShape]) : torch.cat(outputs);
        });
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The name of each example's class: the highest-scoring output, or for one output
    /// unit whether it exceeds <paramref name="threshold"/> (0.5 for probabilities; pass 0 for
    /// logits). Needs <see cref="ClassNames"/>.</summary>
    public string[] PredictClassNames(Tensor inputs, double threshold = 0.5, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        var names = ClassNames ?? throw new InvalidOperationException($"Model '{Network.Name}' has no ClassNames: set them (they are saved with the model).");
        if (OutputShape.Length != 1)
            throw new InvalidOperationException($"Model '{Network.Name}' outputs {ShapeException.FormatBatch(OutputShape)} per example; class names need one score vector.");
        bool single = inputs is not null && inputs.dim() == InputShape.Length;
        using var outputs = Predict(inputs!, batchSize, cancellationToken);
        using var scores = single ? outputs.unsqueeze(0) : outputs.alias();   // (batch, units)
        using var classes = scores.shape[1] == 1 ? scores.squeeze(1).gt(threshold).to_type(ScalarType.Int64) : scores.argmax(1);
        using var onCpu = classes.cpu();
        return [.. onCpu.data<long>().ToArray().Select(c => names[(int)c])];
    }
}
