using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Feature-wise standardisation, <c>(x - mean) / max(sqrt(variance), epsilon)</c>, with the
/// statistics taken from data (Keras's Normalization and its <c>adapt</c>). The statistics are
/// per position of one per-example axis (the last by default) and are model state ("mean",
/// "variance"): they are not trained, they save with the model and export to ONNX.
/// <see cref="Adapt(Tensor, int, double, string?)"/> makes the layer from data; a layer built
/// without statistics standardises nothing (mean 0, variance 1) until they are set.
/// </summary>
[LayerKind("normalization")]
public sealed class Normalization : Layer, IOnnxExportable
{
    /// <summary>A layer with known statistics (or none: mean 0, variance 1) over per-example
    /// <paramref name="axis"/> (negative counts from the end).</summary>
    public Normalization(double[]? mean = null, double[]? variance = null, int axis = -1, double epsilon = 1e-7, string? name = null) : base(name)
    {
        if ((mean is null) != (variance is null)) throw new ArgumentException("Give both mean and variance, or neither.", nameof(mean));
        if (mean is not null && (mean.Length != variance!.Length || mean.Length == 0))
            throw new ArgumentException($"mean has {mean.Length} values and variance {variance!.Length}; they need the same positive count.", nameof(variance));
        if (variance is not null && variance.Any(v => !(v >= 0) || double.IsInfinity(v)))
            throw new ArgumentOutOfRangeException(nameof(variance), "Variances must be finite and non-negative.");
        if (mean is not null && mean.Any(m => !double.IsFinite(m))) throw new ArgumentOutOfRangeException(nameof(mean), "Means must be finite.");
        Mean = mean;
        Variance = variance;
        Axis = axis;
        Epsilon = epsilon > 0 ? epsilon : throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be positive.");
    }

    /// <summary>The mean per feature, or null before statistics are known.</summary>
    public double[]? Mean { get; }
    /// <summary>The (population) variance per feature, or null before statistics are known.</summary>
    public double[]? Variance { get; }
    /// <summary>The per-example feature axis (negative counts from the end).</summary>
    public int Axis { get; }
    /// <summary>The smallest standard deviation divided by (constant features stay finite).</summary>
    public double Epsilon { get; }

    /// <summary>The layer standardising like <paramref name="data"/> (a batch: examples along
    /// axis 0): mean and population variance per position of per-example <paramref name="axis"/>.</summary>
    public static Normalization Adapt(Tensor data, int axis = -1, double epsilon = 1e-7, string? name = null) =>
        Adapt([data], axis, epsilon, name);

    /// <summary>The same from batches read one after the other (a stream), combining the batches'
    /// statistics exactly (Chan's parallel algorithm) without holding the data.</summary>
    public static Normalization Adapt(IEnumerable<Tensor> batches, int axis = -1, double epsilon = 1e-7, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(batches);
        Tensor? mean = null, m2 = null;
        long count = 0;
        try
        {
            foreach (var batch in batches)
            {
                if (batch is null || batch.dim() < 2 || batch.is_complex())
                    throw new ArgumentException("Normalization.Adapt takes batches of examples: tensors of at least 2 dimensions.", nameof(batches));
                // One scope per batch: only the running statistics outlive it.
                using var scope = torch.NewDisposeScope();
                int dim = PerExampleAxis(axis, batch.shape[1..], "Normalization.Adapt");
                var x = batch.to_type(ScalarType.Float64).movedim([dim + 1], [-1]).reshape(-1, batch.shape[dim + 1]);
                if (mean is not null && x.shape[1] != mean.shape[0])
                    throw new ArgumentException($"Normalization.Adapt: a batch has {x.shape[1]} features, earlier ones {mean.shape[0]}.", nameof(batches));
                long n = x.shape[0];
                if (n == 0) continue;
                var batchMean = x.mean([0]);
                var batchM2 = (x - batchMean).square().sum([0]);
                Tensor nextMean, nextM2;
                if (mean is null) (nextMean, nextM2) = (batchMean, batchM2);
                else
                {
                    long total = count + n;
                    var delta = batchMean - mean;
                    nextMean = mean + delta * ((double)n / total);
                    nextM2 = m2! + batchM2 + delta.square() * ((double)count * n / total);
                }
                mean?.Dispose();
                m2?.Dispose();
                (mean, m2, count) = (nextMean.MoveToOuterDisposeScope(), nextM2.MoveToOuterDisposeScope(), count + n);
            }
            if (mean is null) throw new ArgumentException("Normalization.Adapt needs at least one example.", nameof(batches));
            using var variance = m2! / count;
            using var meanOnCpu = mean.cpu();
            using var varianceOnCpu = variance.cpu();
            return new Normalization(meanOnCpu.data<double>().ToArray(), varianceOnCpu.data<double>().ToArray(), axis, epsilon, name);
        }
        finally
        {
            mean?.Dispose();
            m2?.Dispose();
        }
    }

    static int PerExampleAxis(int axis, long[] shape, string who)
    {
        int dim = axis < 0 ? shape.Length + axis : axis;
        return dim >= 0 && dim < shape.Length ? dim
            : throw new ShapeException($"{who}: axis {axis} is outside per-example shape {ShapeException.FormatBatch(shape)}.");
    }

    /// <inheritdoc/>
    public override LayerConfig Config
    {
        get
        {
            var config = new LayerConfig { { "axis", (long)Axis }, { "epsilon", Epsilon } };
            if (Mean is not null) config.Add("mean", Mean);
            if (Variance is not null) config.Add("variance", Variance);
            return config;
        }
    }

    /// <summary>The layer a configuration describes.</summary>
    public static Normalization FromConfig(LayerConfig config, string? name) => new(
        config.Has("mean") ? config.Doubles("mean") : null, config.Has("variance") ? config.Doubles("variance") : null,
        (int)config.Long("axis"), config.Double("epsilon"), name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape)
    {
        int dim = PerExampleAxis(Axis, inputShape, $"Layer '{Name}' ({Kind})");
        if (Mean is not null && inputShape[dim] != Mean.Length)
            throw ShapeError($"with {Mean.Length} features along axis {Axis}", inputShape);
        return inputShape;
    }

    /// <inheritdoc/>
    protected override Variables Initialize(torch.Generator rng, long[] inputShape)
    {
        long features = inputShape[PerExampleAxis(Axis, OutputShape(inputShape), Name)];
        var mean = Mean is null ? Initializers.Filled([features], 0) : Statistic(Mean);
        var variance = Variance is null ? Initializers.Filled([features], 1) : Statistic(Variance);
        return new Variables(TensorTree.Empty, TensorTree.Of(("mean", mean), ("variance", variance)));
    }

    static Tensor Statistic(double[] values)
    {
        using var exact = torch.tensor(values);
        return exact.to_type(ScalarType.Float32);
    }

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        var shape = input.shape[1..];
        int dim = PerExampleAxis(Axis, shape, $"Layer '{Name}' ({Kind})");
        RequireVariable(variables.State, "mean", shape[dim]);
        RequireVariable(variables.State, "variance", shape[dim]);
    }

    long[] Broadcast(long[] perExample)
    {
        int dim = PerExampleAxis(Axis, perExample, Name);
        return [1, .. perExample.Select((d, i) => i == dim ? d : 1)];
    }

    /// <summary>Statistics in float32 under a mixed policy; the output in the input's dtype.</summary>
    protected override MixedPrecision UnderMixedPrecision => MixedPrecision.Float32;

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        var shape = Broadcast(input.shape[1..]);
        var mean = variables.State["mean"].to_type(input.dtype).view(shape);
        var deviation = variables.State["variance"].to_type(input.dtype).sqrt().clamp_min(Epsilon).view(shape);
        return ((input - mean) / deviation, variables.State);
    }

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables)
    {
        var shape = Broadcast(inputShape);
        var mean = variables.State["mean"].view(shape);
        var deviation = variables.State["variance"].sqrt().clamp_min(Epsilon).view(shape);
        return graph.Node("Div", "normalization", [graph.Node("Sub", "normalization", [input, graph.Constant("mean", mean)]), graph.Constant("deviation", deviation)]);
    }
}
