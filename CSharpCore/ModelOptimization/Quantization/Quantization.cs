using System.Text.Json.Nodes;
using Functional.Layers;
using Functional.Training;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.ModelOptimization;

/// <summary>
/// int8 quantization as rewrites of a model's description (each rewrite returns a new model; the
/// given one is unchanged): Dense, convolution, recurrent and attention layers become
/// <see cref="QuantizedLayer"/>s with int8 weights. The result predicts, evaluates, saves (the
/// description records how each layer was quantized; weights are stored as int8), exports to
/// ONNX as QuantizeLinear / DequantizeLinear graphs and compiles (<c>model.Compile()</c>) to ONNX
/// Runtime's integer kernels, which is where it is fast: eager Predict computes the same values
/// in float32.
/// </summary>
/// <remarks>
/// <code>
/// using var int8 = Quantization.Static(model, calibrationImages);   // post-training, calibrated
/// using var compiled = int8.Compile();                               // QLinearConv, QGemm
/// using var qat = Quantization.PrepareForTraining(model);            // or: quantization-aware training
/// qat.Fit(x, y, new FitOptions { Epochs = 1 });
/// using var trained = Quantization.Convert(qat);
/// </code>
/// </remarks>
public static class Quantization
{
    /// <summary>
    /// Post-training dynamic quantization (no data needed): the weights of Dense, LSTM, GRU,
    /// SimpleRnn and multi-head attention layers become int8, and each product's input is
    /// quantized to uint8 as it arrives (ONNX Runtime's DynamicQuantizeMatMul).
    /// </summary>
    public static Model Dynamic(Model model, QuantizationOptions? options = null) =>
        PostTraining(model, ActivationQuantization.Dynamic, options);

    /// <summary>int8 weights only: files and memory shrink about 4x; the layers compute in float32.</summary>
    public static Model WeightsOnly(Model model, QuantizationOptions? options = null) =>
        PostTraining(model, ActivationQuantization.None, options);

    static Model PostTraining(Model model, ActivationQuantization activations, QuantizationOptions? options)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new QuantizationOptions();
        options.Validate();
        var network = ModelRewrite.Replace(model.Network, site =>
            options.Skip.Contains(site.Path) || QuantizedLayer.CannotQuantize(site.Layer, activations) is not null ? null
            : LayerRegistry.ToJson(new QuantizedLayer(site.Layer, activations, WeightStorage.Int8, options.PerChannel)));
        return Assemble(model, network, new Dictionary<string, (double, double)>());
    }

    /// <summary>
    /// Post-training static quantization: BatchNorms folded first (<see cref="QuantizationOptions.Fold"/>),
    /// then the activation ranges of every Dense and convolution calibrated on
    /// <paramref name="calibrationInputs"/> (a few hundred typical examples), weights int8 per
    /// channel, activations uint8. A layer whose input comes (through max pooling, flatten,
    /// reshape or dropout only) from another quantized layer shares that layer's output range, so
    /// the values stay integers between them. Sequential networks get all of this; in other
    /// networks each layer quantizes its own input and not its output.
    /// </summary>
    /// <exception cref="ArgumentException">No calibration data, or inputs that do not fit the model.</exception>
    public static Model Static(Model model, Tensor calibrationInputs, QuantizationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(calibrationInputs);
        options ??= new QuantizationOptions();
        options.Validate();
        var batches = Batches(calibrationInputs, options.CalibrationBatchSize);
        try
        {
            return Static(model, batches, options);
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }

    /// <summary>Static quantization calibrated on <paramref name="calibrationBatches"/> (inputs
    /// only, each (batch, per-example input shape...)).</summary>
    public static Model Static(Model model, IEnumerable<Tensor> calibrationBatches, QuantizationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibrationBatches);
        options ??= new QuantizationOptions();
        options.Validate();
        using var folded = options.Fold ? FoldBatchNorm(model) : null;
        var source = folded ?? model;
        var ranges = Calibrate(source, calibrationBatches, options);
        return Assemble(source, StaticNetwork(source.Network, options.Skip, WeightStorage.Int8, options.PerChannel), ranges);
    }

    /// <summary>
    /// The model with each BatchNorm that follows a Dense or convolution without activation
    /// folded into it, and an activation layer after such a layer made its activation (a
    /// Sequential's top-level layers); the same outputs in inference. A model with nothing to
    /// fold comes back as a copy.
    /// </summary>
    public static Model FoldBatchNorm(Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        (Sequential Network, Variables Variables)? folded = null;
        TrainState? copy = null;
        long step = 0;
        model.ReadState(state =>
        {
            step = state.Step;
            folded = BatchNormFolding.Fold(model.Network, model.InputShape, new Variables(state.Params, state.ModelState));
            if (folded is null) copy = state.Copy();
        });
        if (folded is not { } f)
            return ModelRewrite.Rebuild(model, model.BaseOptimizer, state: copy);
        var rebuilt = ModelRewrite.Rebuild(model, Pruning.Unwrapped(model.BaseOptimizer), f.Network);
        rebuilt.Resume(rebuilt.State with { Params = f.Variables.Params, ModelState = f.Variables.State, Step = step });
        return rebuilt;
    }

    /// <summary>
    /// Quantization-aware training (tfmot's <c>quantize_model</c>): every Dense and convolution
    /// computes with fake-quantized weights and activations (rounded to int8 / uint8 and back,
    /// with the straight-through estimator as gradient), the activation ranges following a
    /// moving average of each batch's. The parameters keep their paths, so the optimizer state
    /// carries over. Train it with Fit, then <see cref="Convert"/>. Fold BatchNorms first
    /// (<see cref="FoldBatchNorm"/>) to train the blocks that will deploy.
    /// </summary>
    public static Model PrepareForTraining(Model model, QuantizationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new QuantizationOptions();
        options.Validate();
        var network = StaticNetwork(model.Network, options.Skip, WeightStorage.Float, options.PerChannel);
        TrainState? state = null;
        model.ReadState(s => state = s.Copy());
        var rebuilt = ModelRewrite.Rebuild(model, model.BaseOptimizer, network);
        try
        {
            // The new model's own state holds the fresh (unobserved) ranges; everything else carries over.
            var ranges = rebuilt.State.ModelState.Filter((path, _) => !state!.ModelState.ContainsLeaf(path)).Clone();
            var optState = state!.OptState;
            if (!rebuilt.State.OptState.Structure.Equals(optState.Structure))
            {
                optState.Dispose();
                optState = rebuilt.State.OptState.Clone();
            }
            rebuilt.Resume(state with { ModelState = state.ModelState.Merge(ranges), OptState = optState });
            return rebuilt;
        }
        catch
        {
            rebuilt.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The int8 model of a quantization-aware model (<see cref="PrepareForTraining"/>): weights
    /// quantized, the learned ranges kept (a layer that shares its input range takes its
    /// neighbour's output range).
    /// </summary>
    /// <exception cref="ArgumentException">The model has no quantization-aware layer, or one never trained (its ranges unobserved).</exception>
    public static Model Convert(Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var ranges = new Dictionary<string, (double, double)>(StringComparer.Ordinal);
        var sites = ModelRewrite.Sites(model.Network).Where(s => s.Layer is QuantizedLayer { Storage: WeightStorage.Float }).ToArray();
        if (sites.Length == 0)
            throw new ArgumentException($"Model '{model.Network.Name}' has no quantization-aware layer: make one with Quantization.PrepareForTraining.", nameof(model));
        model.ReadState(state =>
        {
            foreach (var (path, value) in state.ModelState)
                if (path.EndsWith(QuantizedLayer.InputRange, StringComparison.Ordinal) || path.EndsWith(QuantizedLayer.OutputRange, StringComparison.Ordinal))
                {
                    var v = AffineQuantizer.Values(value);
                    if (!(v[0] <= v[1]))
                        throw new ArgumentException($"Model '{model.Network.Name}': the range '{path}' was never observed: train the quantization-aware model (Fit) before converting it.", nameof(model));
                    ranges[path] = (v[0], v[1]);
                }
        });
        var network = ModelRewrite.Replace(model.Network, site => site.Layer is QuantizedLayer { Storage: WeightStorage.Float } q
            ? LayerRegistry.ToJson(new QuantizedLayer(q.Inner, q.Activations, WeightStorage.Int8, q.PerChannel, q.QuantizeInput, q.QuantizeOutput, q.EmaDecay))
            : null);
        return Assemble(model, network, ranges);
    }

    /// <summary>
    /// How much each layer alone costs when quantized statically: the model is quantized one
    /// layer at a time (calibrated once on <paramref name="calibrationInputs"/>) and evaluated on
    /// (<paramref name="inputs"/>, <paramref name="targets"/>) against the float model, then
    /// with all layers. Pass the worst to <see cref="QuantizationOptions.Skip"/>.
    /// </summary>
    /// <param name="model">The float model.</param>
    /// <param name="calibrationInputs">Inputs that set the activation ranges.</param>
    /// <param name="inputs">Held-out inputs the variants are evaluated on.</param>
    /// <param name="targets">Their targets.</param>
    /// <param name="metric">The metric compared (default: the model's first metric, else the loss).</param>
    /// <param name="options">Options of the static quantization (its skip list is left out of the comparison).</param>
    public static QuantizationSensitivity Sensitivity(Model model, Tensor calibrationInputs, Tensor inputs, Tensor targets,
        string? metric = null, QuantizationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibrationInputs);
        options ??= new QuantizationOptions();
        options.Validate();
        metric ??= model.Metrics.Count > 0 ? model.Metrics[0].Name : "loss";
        bool higherIsBetter = metric != "loss" && (model.Metrics.FirstOrDefault(m => m.Name == metric)?.HigherIsBetter
            ?? throw new ArgumentException($"Model '{model.Network.Name}' has no metric '{metric}' (it has: loss, {string.Join(", ", model.Metrics.Select(m => m.Name))}).", nameof(metric)));
        double Score(Model m) => m.Evaluate(inputs, targets)[metric];
        using var folded = options.Fold ? FoldBatchNorm(model) : null;
        var source = folded ?? model;
        var batches = Batches(calibrationInputs, options.CalibrationBatchSize);
        Dictionary<string, (double, double)> ranges;
        try
        {
            ranges = Calibrate(source, batches, options);
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
        var candidates = ModelRewrite.Sites(source.Network).Where(s => StaticCandidate(s, options.Skip)).ToArray();
        double baseline = Score(source);
        var layers = new List<LayerSensitivity>();
        foreach (var site in candidates)
        {
            var skip = candidates.Select(c => c.Path).Where(p => p != site.Path).Concat(options.Skip).ToHashSet(StringComparer.Ordinal);
            using var one = Assemble(source, StaticNetwork(source.Network, skip, WeightStorage.Int8, options.PerChannel), ranges);
            layers.Add(new LayerSensitivity(site.Path, LayerRegistry.KindOf(site.Layer), Score(one)));
        }
        using var all = Assemble(source, StaticNetwork(source.Network, options.Skip, WeightStorage.Int8, options.PerChannel), ranges);
        return new QuantizationSensitivity(metric, higherIsBetter, baseline, Score(all), layers);
    }

    /// <summary>The batches of a calibration tensor (views the caller disposes).</summary>
    static List<Tensor> Batches(Tensor inputs, int batchSize)
    {
        if (inputs.dim() < 1 || inputs.shape[0] == 0) throw new ArgumentException("Static quantization needs calibration inputs (batch, ...) with at least one example.", nameof(inputs));
        var batches = new List<Tensor>();
        for (long start = 0; start < inputs.shape[0]; start += batchSize)
            batches.Add(inputs.narrow(0, start, Math.Min(batchSize, inputs.shape[0] - start)));
        return batches;
    }

    /// <summary>The observed ranges of the inputs and outputs of every layer static quantization may take.</summary>
    static Dictionary<string, (double, double)> Calibrate(Model model, IEnumerable<Tensor> batches, QuantizationOptions options)
    {
        var targets = ModelRewrite.Sites(model.Network).Where(s => StaticCandidate(s, options.Skip)).Select(s => s.Path).ToArray();
        if (targets.Length == 0)
            throw new ArgumentException($"Model '{model.Network.Name}' has no Dense or convolution layer to quantize statically (skipped: {string.Join(", ", options.Skip)}).", nameof(model));
        var checkedBatches = batches.Select(b => b.shape.AsSpan(1).SequenceEqual(model.InputShape) ? b
            : throw new ShapeException($"Calibration inputs must have shape (batch, {string.Join(", ", model.InputShape)}) for model '{model.Network.Name}'; got ({string.Join(", ", b.shape)})."));
        Dictionary<string, (double, double)>? ranges = null;
        model.ReadState(state => ranges = new(Calibrator.Ranges(model.Network, new Variables(state.Params, state.ModelState),
            checkedBatches, options.Calibration, targets), StringComparer.Ordinal));
        return ranges!;
    }

    /// <summary>The network with every Dense and convolution not skipped wrapped for static
    /// quantization, with the input and output choices its neighbours allow.</summary>
    static ILayer StaticNetwork(ILayer network, IEnumerable<string> skip, WeightStorage storage, bool perChannel)
    {
        var skipped = skip.ToHashSet(StringComparer.Ordinal);
        return ModelRewrite.Replace(network, site =>
        {
            if (!StaticCandidate(site, skipped)) return null;
            bool ownInput = true, output = false;
            if (site.Siblings is { } siblings)
            {
                // A Sequential calls its layers where calibration watches them.
                ownInput = Upstream(siblings, site.Index) is not { } up || !StaticCandidate(new ModelRewrite.Site(siblings[up].Path, siblings[up].Layer, siblings, up), skipped);
                output = siblings.Skip(site.Index + 1).Any(s => !IsTransparent(s.Layer) && s.Layer is not Activation);
            }
            return LayerRegistry.ToJson(new QuantizedLayer(site.Layer, ActivationQuantization.Static, storage, perChannel, ownInput, output));
        });
    }

    /// <summary>Whether static quantization takes the layer at <paramref name="site"/>: a Dense or
    /// convolution not skipped, called where calibration can watch it.</summary>
    static bool StaticCandidate(ModelRewrite.Site site, IEnumerable<string> skip) =>
        site.Observed && !skip.Contains(site.Path) && QuantizedLayer.CannotQuantize(site.Layer, ActivationQuantization.Static) is null;

    /// <summary>The index of the layer whose output reaches layer <paramref name="index"/> of a
    /// Sequential through transparent layers only (null: the network's input).</summary>
    static int? Upstream(IReadOnlyList<(string Path, ILayer Layer)> siblings, int index)
    {
        int k = index - 1;
        while (k >= 0 && IsTransparent(siblings[k].Layer)) k--;
        return k >= 0 ? k : null;
    }

    /// <summary>Layers that move or select values without changing them: quantized values pass
    /// through them unchanged (ONNX Runtime runs them on uint8).</summary>
    static bool IsTransparent(ILayer layer) => layer is Pooling { Reduction: PoolKind.Max } or Flatten or Reshape or Dropout;

    /// <summary>
    /// The model with <paramref name="network"/> (a rewrite of its own): each quantized layer's
    /// variables made from the model's (int8 weights from float parameters, ranges from
    /// <paramref name="ranges"/>, keyed "PATH/input_range" and "PATH/output_range", or from the
    /// model's state), everything else copied.
    /// </summary>
    static Model Assemble(Model model, ILayer network, IReadOnlyDictionary<string, (double Min, double Max)> ranges)
    {
        var quantized = ModelRewrite.Sites(network).Where(s => s.Layer is QuantizedLayer).ToDictionary(s => s.Path, StringComparer.Ordinal);
        bool Rewritten(string path) => quantized.Keys.Any(q => TreePath.IsUnder(path, q));
        TensorTree? parameters = null, modelState = null;
        long step = 0;
        model.ReadState(original =>
        {
            step = original.Step;
            var leaves = new List<(string, Tensor)>();
            try
            {
                foreach (var (path, site) in quantized)
                {
                    var layer = (QuantizedLayer)site.Layer;
                    Tensor? inputRange = null;
                    if (layer.Activations == ActivationQuantization.Static)
                    {
                        var inputKey = layer.QuantizeInput ? TreePath.Join(path, QuantizedLayer.InputRange)
                            : TreePath.Join(site.Siblings![Upstream(site.Siblings, site.Index)!.Value].Path, QuantizedLayer.OutputRange);
                        inputRange = Range(ranges, inputKey);
                        leaves.Add((TreePath.Join(path, QuantizedLayer.InputRange), inputRange));
                        if (layer.QuantizeOutput) leaves.Add((TreePath.Join(path, QuantizedLayer.OutputRange), Range(ranges, TreePath.Join(path, QuantizedLayer.OutputRange))));
                    }
                    var (inputScale, inputZeroPoint) = inputRange is null ? (null, null) : AffineQuantizer.ActivationParameters(inputRange);
                    using (inputScale)
                    using (inputZeroPoint)
                        leaves.AddRange(layer.QuantizeWeights(original.Params.Select(path), inputScale).Select(w => (TreePath.Join(path, w.Key), w.Value)));
                }
            }
            catch
            {
                foreach (var (_, t) in leaves) t.Dispose();
                throw;
            }
            parameters = original.Params.Filter((path, _) => !Rewritten(path)).Clone();
            modelState = original.ModelState.Filter((path, _) => !Rewritten(path)).Clone().Merge(TensorTree.FromLeaves(leaves));
        });
        var rebuilt = ModelRewrite.Rebuild(model, Pruning.Unwrapped(model.BaseOptimizer), network);
        try
        {
            rebuilt.Resume(rebuilt.State with { Params = parameters!, ModelState = modelState!, Step = step });
            return rebuilt;
        }
        catch
        {
            rebuilt.Dispose();
            throw;
        }
    }

    static Tensor Range(IReadOnlyDictionary<string, (double Min, double Max)> ranges, string key) =>
        ranges.TryGetValue(key, out var r) ? tensor(new[] { (float)r.Min, (float)r.Max })
            : throw new InvalidOperationException($"No range was observed for '{key}'.");
}
