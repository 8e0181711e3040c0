using Functional.Layers;
using Functional.Trees;
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
        return Evaluate(new LabeledData(inputs, targets), batchSize, cancellationToken);
    }

    /// <summary>Loss and metrics over in-memory data (trees for named inputs and outputs; the
    /// loss weighs examples by <see cref="LabeledData.SampleWeights"/> when given), in inference mode.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(LabeledData data, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        RequireExamples(data, "Evaluate");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        return Evaluate(new TensorBatches(data, batchSize), cancellationToken);
    }

    /// <summary>Loss and metrics over a batch source, in inference mode. The whole pass sees one
    /// state: a Fit running on another thread waits for it at its next step boundary.
    /// Cancelling <paramref name="cancellationToken"/> stops at the next batch with
    /// <see cref="OperationCanceledException"/>.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(IBatchSource data, CancellationToken cancellationToken = default) =>
        Evaluate(data, null, cancellationToken);

    /// <summary>Evaluate; in data-parallel training over every rank's share, with the sums of all
    /// ranks (cancellation then waits for the next training step, where the ranks agree on it).</summary>
    Dictionary<string, double> Evaluate(IBatchSource data, ParallelFit? parallel, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (parallel is not null) cancellationToken = CancellationToken.None;
        return Reading(() =>
        {
            var losses = new LossAverages(heads.Length);
            var metricStates = NewMetricStates();
            foreach (var item in data.Batches(0))
            {
                using var batch = item ?? throw new InvalidOperationException("Evaluate: the data gave a null batch.");
                using var scope = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                cancellationToken.ThrowIfCancellationRequested();
                var (x, y) = (InputsOf(batch.Inputs), TargetsOf(batch.Targets));
                _ = batch.Rows;
                var (outputs, _) = Forward(new Variables(State.Params, State.ModelState), x, ApplyContext.Inference);
                for (int h = 0; h < heads.Length; h++)
                {
                    var perExample = heads[h].Loss.PerExample(outputs[heads[h].Output], y[h], LossInputs(heads[h], x));
                    if (batch.SampleWeights is { } w) perExample = perExample * w.to_type(perExample.dtype);
                    losses.AddSum(h, perExample.to_type(ScalarType.Float64).sum().item<double>(), CountedRows(heads[h], y[h]));
                }
                UpdateMetrics(metricStates, outputs, y);
            }
            parallel?.ReduceEvaluation(losses, metricStates);
            return Logs(losses, metricStates);
        });
    }

    /// <summary>The network's outputs for <paramref name="inputs"/>, in inference mode, batch by
    /// batch. One example without a batch dimension (a tensor of <see cref="InputShape"/>) gives
    /// one output without it. Cancelling <paramref name="cancellationToken"/> stops at the next
    /// batch with <see cref="OperationCanceledException"/>.</summary>
    /// <exception cref="InvalidOperationException">The model has several inputs or outputs: use
    /// <see cref="Predict(TensorTree, int, CancellationToken)"/>.</exception>
    public Tensor Predict(Tensor inputs, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ThrowIfDisposed();
        RequireOneOutput("Predict");
        if (this.inputs.Length == 1 && inputs.dim() == InputShape.Length && inputs.shape.SequenceEqual(InputShape))
        {
            if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
            using var batch = inputs.unsqueeze(0);
            using var one = Predict(batch, 1, cancellationToken);
            return one.squeeze(0);
        }
        return Predict(TensorTree.Leaf(inputs), batchSize, cancellationToken).Leaves[0];
    }

    /// <summary>The network's outputs for a tree of inputs (a leaf per input name), in inference
    /// mode, batch by batch: a leaf per output name (one unnamed leaf for a model with one
    /// unnamed output). Cancellation as for <see cref="Predict(Tensor, int, CancellationToken)"/>.</summary>
    public TensorTree Predict(TensorTree inputs, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        var x = InputsOf(inputs);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        long rows = x[0].shape[0];
        if (x.FirstOrDefault(t => t.shape[0] != rows) is { } other)
            throw new ShapeException($"Predict: the inputs need the same number of examples; got {rows} and {other.shape[0]}.");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // One read lock for the whole call: every batch sees the same state, even while Fit runs.
        var result = Reading(() =>
        {
            var parts = outputs.Select(_ => new List<Tensor>()).ToArray();
            for (long start = 0; start < rows; start += batchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long length = Math.Min(batchSize, rows - start);
                var (values, _) = Forward(new Variables(State.Params, State.ModelState), [.. x.Select(t => t.narrow(0, start, length))], ApplyContext.Inference);
                for (int o = 0; o < values.Length; o++) parts[o].Add(values[o]);
            }
            return PredictionTree([.. parts.Select((p, o) => p.Count == 0 ? torch.empty([0, .. outputs[o].Shape]) : torch.cat(p))]);
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
