using Functional.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Training;

// Inference: Evaluate and Predict.
public sealed partial class Model
{
    /// <summary>Loss and metrics over in-memory data, in inference mode.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(Tensor inputs, Tensor targets, int batchSize = 256) =>
        Evaluate(new TensorBatches(inputs, targets, batchSize));

    /// <summary>Loss and metrics over a batch source, in inference mode.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(IBatchSource data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var (lossSum, count) = (0.0, 0L);
        var metricStates = Metrics.Select(m => m.Init()).ToArray();
        foreach (var (x, y) in data.Batches(0))
        {
            using (x)
            using (y)
            using (var scope = torch.NewDisposeScope())
            using (torch.no_grad())
            {
                CheckInputs(x);
                var (predictions, _) = Network.Apply(new Variables(State.Params, State.ModelState), x, ApplyContext.Inference);
                lossSum += Loss.PerExample(predictions, y).to_type(ScalarType.Float64).sum().item<double>();
                count += x.shape[0];
                for (int i = 0; i < Metrics.Count; i++) metricStates[i] = Metrics[i].Update(metricStates[i], predictions, y);
            }
        }
        return Logs(count == 0 ? double.NaN : lossSum / count, metricStates, "");
    }

    /// <summary>The network's outputs for <paramref name="inputs"/>, in inference mode, batch by batch.</summary>
    public Tensor Predict(Tensor inputs, int batchSize = 256)
    {
        CheckInputs(inputs);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var outputs = new List<Tensor>();
        for (long start = 0; start < inputs.shape[0]; start += batchSize)
        {
            var x = inputs.narrow(0, start, Math.Min(batchSize, inputs.shape[0] - start));
            outputs.Add(Network.Apply(new Variables(State.Params, State.ModelState), x, ApplyContext.Inference).Output);
        }
        var result = outputs.Count == 0 ? torch.empty([0, .. OutputShape]) : torch.cat(outputs);
        return result.MoveToOuterDisposeScope();
    }
}
