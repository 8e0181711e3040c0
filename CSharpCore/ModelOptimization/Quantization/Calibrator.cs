using Functional.Layers;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.ModelOptimization;

/// <summary>
/// Runs a float network over calibration batches and records the range of the values entering
/// and leaving chosen layer calls (by variables path), as its <see cref="Calibration"/> says:
/// the extremes, or a percentile of a histogram taken in a second pass.
/// </summary>
sealed class Calibrator : ILayerCallObserver
{
    const int Bins = 2048;
    static readonly System.Text.RegularExpressions.Regex SharedCall = new(@"^(.*)_call[0-9]+$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);
    readonly Calibration method;
    readonly HashSet<string> targets;
    readonly Dictionary<string, Observed> observed = new(StringComparer.Ordinal);
    readonly Stack<string> paths = new();
    bool histogramPass;

    Calibrator(Calibration method, IEnumerable<string> targets) => (this.method, this.targets) = (method, new(targets, StringComparer.Ordinal));

    /// <summary>What one value (a call's input or output) was seen to hold.</summary>
    sealed class Observed
    {
        public double Min = double.PositiveInfinity, Max = double.NegativeInfinity;
        public Tensor? Histogram;
    }

    /// <summary>The (min, max) ranges of the inputs and outputs of the calls at <paramref name="targets"/>,
    /// keyed "PATH/input_range" and "PATH/output_range".</summary>
    /// <exception cref="ArgumentException">No calibration batch, or a target the network never called.</exception>
    public static IReadOnlyDictionary<string, (double Min, double Max)> Ranges(ILayer network, Variables variables, IEnumerable<Tensor> batches,
        Calibration method, IReadOnlyCollection<string> targets)
    {
        var calibrator = new Calibrator(method, targets);
        var list = batches as IReadOnlyList<Tensor> ?? [.. batches];
        if (list.Count == 0) throw new ArgumentException("Static quantization needs at least one calibration batch.", nameof(batches));
        calibrator.Run(network, variables, list);
        var missing = targets.Where(t => !calibrator.observed.ContainsKey(Key(t, QuantizedLayer.InputRange))).ToArray();
        if (missing.Length > 0)
            throw new ArgumentException($"Calibration never reached the layer(s) {string.Join(", ", missing)}: a layer inside a container that does not call its parts one by one cannot be calibrated.");
        if (method.NeedsHistogram)
        {
            calibrator.histogramPass = true;
            calibrator.Run(network, variables, list);
        }
        var ranges = calibrator.observed.ToDictionary(kv => kv.Key, kv => calibrator.RangeOf(kv.Value));
        foreach (var seen in calibrator.observed.Values) seen.Histogram?.Dispose();
        return ranges;
    }

    static string Key(string path, string what) => TreePath.Join(path, what);

    void Run(ILayer network, Variables variables, IReadOnlyList<Tensor> batches)
    {
        var previous = LayerCall.Observer;
        LayerCall.Observer = this;
        try
        {
            using var noGrad = no_grad();
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                LayerCall.ApplyNetwork(network, variables, batch, ApplyContext.Inference);
            }
        }
        finally
        {
            LayerCall.Observer = previous;
        }
    }

    /// <inheritdoc/>
    public (Tensor Output, TensorTree State) Call(ILayer layer, string? name, Tensor input, Func<Tensor, (Tensor Output, TensorTree State)> apply)
    {
        var path = name is null ? "" : TreePath.Join(paths.Count == 0 ? "" : paths.Peek(), name);
        paths.Push(path);
        try
        {
            // A shared layer's later calls ("dense_call2", ...) count towards its one range.
            var shared = SharedCall.Match(path);
            if (shared.Success && targets.Contains(shared.Groups[1].Value)) path = shared.Groups[1].Value;
            bool watched = targets.Contains(path);
            if (watched) Observe(Key(path, QuantizedLayer.InputRange), input);
            var result = apply(input);
            if (watched) Observe(Key(path, QuantizedLayer.OutputRange), result.Output);
            return result;
        }
        finally
        {
            paths.Pop();
        }
    }

    /// <inheritdoc/>
    public (Tensor Total, Tensor[] PerOutput) Loss(Tensor[] outputs, Func<Tensor[], (Tensor Total, Tensor[] PerOutput)> loss) => loss(outputs);

    void Observe(string key, Tensor value)
    {
        if (!observed.TryGetValue(key, out var seen)) observed[key] = seen = new Observed();
        using var x = value.detach().to_type(ScalarType.Float32);
        if (!histogramPass)
        {
            seen.Min = Math.Min(seen.Min, x.min().item<float>());
            seen.Max = Math.Max(seen.Max, x.max().item<float>());
            return;
        }
        if (!(seen.Max > seen.Min)) return;
        using var scope = NewDisposeScope();
        var bins = ((x.flatten() - seen.Min) * (Bins / (seen.Max - seen.Min))).floor().clamp(0, Bins - 1).to_type(ScalarType.Int64);
        var counts = bins.bincount(null, Bins).to_type(ScalarType.Float64).MoveToOuterDisposeScope();
        if (seen.Histogram is null) seen.Histogram = counts.DetachFromDisposeScope();
        else using (counts) seen.Histogram.add_(counts);
    }

    (double Min, double Max) RangeOf(Observed seen)
    {
        if (method is not Calibration.PercentileCalibration { Percent: var percent } || seen.Histogram is null) return (seen.Min, seen.Max);
        var counts = seen.Histogram.data<double>().ToArray();
        double total = counts.Sum(), tail = total * (1 - percent / 100), width = (seen.Max - seen.Min) / Bins;
        int low = 0, high = Bins - 1;
        for (double below = 0; low < Bins - 1 && below + counts[low] <= tail; low++) below += counts[low];
        for (double above = 0; high > low && above + counts[high] <= tail; high--) above += counts[high];
        return (seen.Min + low * width, seen.Min + (high + 1) * width);
    }
}
