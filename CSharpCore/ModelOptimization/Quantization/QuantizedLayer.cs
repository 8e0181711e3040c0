using Functional.Export;
using Functional.Layers;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.ModelOptimization;

/// <summary>How a quantized layer treats the values it computes on (its weights are int8 in all three).</summary>
public enum ActivationQuantization
{
    /// <summary>Weights only: the layer computes in float32 with its int8 weights dequantized
    /// (smaller files and memory; no faster).</summary>
    None,
    /// <summary>Inputs quantized to uint8 as each batch arrives, from its own range (ONNX's
    /// <c>DynamicQuantizeLinear</c>): no calibration; Dense, recurrent and attention layers.</summary>
    Dynamic,
    /// <summary>Inputs and outputs quantized to uint8 with ranges calibrated beforehand (or
    /// learned in quantization-aware training): Dense and convolutions, the fastest form.</summary>
    Static,
}

/// <summary>How a quantized layer holds its weights.</summary>
public enum WeightStorage
{
    /// <summary>int8 values and float32 scales in the layer's state (a converted, deployable layer).</summary>
    Int8,
    /// <summary>float32 parameters, quantized and dequantized on every call with the
    /// straight-through estimator as gradient: quantization-aware training.</summary>
    Float,
}

/// <summary>
/// A Dense, convolution, recurrent or attention layer with int8 weights (Keras 3's quantized
/// layers, tfmot's <c>QuantizeWrapper</c>): every kernel is quantized symmetrically to int8 with a
/// scale per output channel (or one per tensor), biases stay float32 (int32 in the exported graph).
/// Made by <see cref="Quantization"/>'s rewrites rather than by hand; saved, loaded, exported and
/// compiled like any layer. Eagerly it computes in float32 what the int8 kernels compute (the
/// values quantized and dequantized; dynamic attention leaves its inner products' inputs
/// unrounded there); exported to ONNX it is QuantizeLinear / DequantizeLinear
/// around the layer's own operators, which ONNX Runtime runs as integer kernels (QLinearConv,
/// QLinearMatMul, DynamicQuantizeMatMul).
/// </summary>
/// <remarks>
/// Variables. <see cref="WeightStorage.Int8"/>: no parameters; state: the inner layer's
/// parameters with each kernel as int8 beside its float32 "…_scale", and for static activations
/// "input_range" (and "output_range" when <see cref="QuantizeOutput"/>) as (min, max).
/// <see cref="WeightStorage.Float"/>: the inner layer's parameters under their own paths (a
/// model turns quantization-aware without renaming anything); the ranges in state, followed in
/// training by a moving average of each batch's min and max.
/// </remarks>
[LayerKind("quantized")]
public sealed class QuantizedLayer : IDescribedLayer, IOnnxExportable
{
    /// <summary>Suffix of a kernel's scale in an int8 layer's state ("kernel" → "kernel_scale").</summary>
    public const string ScaleSuffix = "_scale";
    /// <summary>State names of the activation ranges.</summary>
    public const string InputRange = "input_range", OutputRange = "output_range";

    /// <summary>Quantizes <paramref name="layer"/>.</summary>
    /// <param name="layer">Dense, Conv1D or Conv2D for static activations; also LSTM, GRU,
    /// SimpleRnn and MultiHeadAttention for dynamic activations or weights only.</param>
    /// <param name="activations">How its inputs (and outputs) are quantized.</param>
    /// <param name="storage">int8 weights, or float weights for quantization-aware training.</param>
    /// <param name="perChannel">A scale per output channel (default) or one per kernel.</param>
    /// <param name="quantizeInput">Static only: whether the layer quantizes its input with a
    /// range of its own. False when the input comes, through max pooling or reshapes only, from
    /// a layer that quantized its output: the range is then that layer's (tied when converted).</param>
    /// <param name="quantizeOutput">Static only: whether the output is quantized too (so the next
    /// quantized layer reads uint8 directly, and ONNX Runtime fuses the whole layer).</param>
    /// <param name="emaDecay">Quantization-aware training: the moving average's decay for the ranges.</param>
    /// <exception cref="NotSupportedException">A layer this mode cannot quantize.</exception>
    public QuantizedLayer(ILayer layer, ActivationQuantization activations = ActivationQuantization.Static, WeightStorage storage = WeightStorage.Int8,
        bool perChannel = true, bool quantizeInput = true, bool quantizeOutput = false, double emaDecay = 0.99)
    {
        Inner = layer ?? throw new ArgumentNullException(nameof(layer));
        if (!Enum.IsDefined(activations)) throw new ArgumentOutOfRangeException(nameof(activations), activations, "Unknown activation quantization.");
        if (!Enum.IsDefined(storage)) throw new ArgumentOutOfRangeException(nameof(storage), storage, "Unknown weight storage.");
        if (!(emaDecay is >= 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(emaDecay), emaDecay, "The moving average's decay must be in [0, 1).");
        if (activations != ActivationQuantization.Static && (quantizeOutput || !quantizeInput))
            throw new ArgumentException("Only static quantization quantizes outputs or shares an input range.", nameof(quantizeOutput));
        if (CannotQuantize(layer, activations) is { } why) throw new NotSupportedException(why);
        (Activations, Storage, PerChannel, QuantizeInput, QuantizeOutput, EmaDecay) = (activations, storage, perChannel, quantizeInput, quantizeOutput, emaDecay);
    }

    /// <summary>The layer quantized.</summary>
    public ILayer Inner { get; }
    /// <summary>How inputs and outputs are quantized.</summary>
    public ActivationQuantization Activations { get; }
    /// <summary>How the weights are held.</summary>
    public WeightStorage Storage { get; }
    /// <summary>A scale per output channel (true) or per kernel.</summary>
    public bool PerChannel { get; }
    /// <summary>Static: whether the input is quantized with a range of this layer's own.</summary>
    public bool QuantizeInput { get; }
    /// <summary>Static: whether the output is quantized.</summary>
    public bool QuantizeOutput { get; }
    /// <summary>The ranges' moving-average decay in quantization-aware training.</summary>
    public double EmaDecay { get; }

    /// <inheritdoc/>
    public string Name => Inner.Name;

    /// <inheritdoc/>
    public string Kind => "quantized";

    /// <inheritdoc/>
    public LayerConfig Config => new()
    {
        { "layer", Inner }, { "activations", Activations }, { "weights", Storage }, { "per_channel", PerChannel },
        { "quantize_input", QuantizeInput }, { "quantize_output", QuantizeOutput }, { "ema_decay", EmaDecay },
    };

    /// <summary>The layer a configuration describes.</summary>
    public static QuantizedLayer FromConfig(LayerConfig config, string? name) =>
        new(config.Layer("layer"), config.Enum<ActivationQuantization>("activations"), config.Enum<WeightStorage>("weights"),
            config.Bool("per_channel"), config.Bool("quantize_input"), config.Bool("quantize_output"), config.Double("ema_decay"));

    /// <summary>Why <paramref name="layer"/> cannot be quantized this way, or null.</summary>
    internal static string? CannotQuantize(ILayer layer, ActivationQuantization activations) => layer switch
    {
        Dense or Conv1D or Conv2D => null,
        Lstm or Gru or SimpleRnn or MultiHeadAttention when activations != ActivationQuantization.Static => null,
        Lstm or Gru or SimpleRnn or MultiHeadAttention =>
            $"Layer '{layer.Name}' ({LayerRegistry.KindOf(layer)}) is quantized dynamically or by weights only; static quantization takes Dense and convolutions.",
        _ => $"Layer '{layer.Name}' ({LayerRegistry.KindOf(layer)}) cannot be quantized: Dense, Conv1D, Conv2D, LSTM, GRU, SimpleRnn and MultiHeadAttention can.",
    };

    /// <summary>Whether the parameter at <paramref name="path"/> of the inner layer is a kernel (quantized to int8).</summary>
    internal static bool IsKernel(string path, Tensor value) => value.dim() >= 2 && path.EndsWith("kernel", StringComparison.Ordinal);

    /// <summary>The axis of a kernel's per-channel scales (its output units), or null for one per kernel.</summary>
    int? ScaleAxis(Tensor kernel) => PerChannel ? ModelRewrite.OutputAxis(kernel) : null;

    bool Static => Activations == ActivationQuantization.Static;

    /// <inheritdoc/>
    public long[] OutputShape(long[] inputShape) => Inner.OutputShape(inputShape);

    /// <inheritdoc/>
    public Variables Init(torch.Generator rng, long[] inputShape)
    {
        Variables inner;
        // An int8 layer makes its float weights only to quantize them: it is held to what it keeps.
        using (Storage == WeightStorage.Int8 ? Runtime.TensorAllocation.CountFloatsAs(ScalarType.Int8) : null)
            inner = Inner.Init(rng, inputShape);
        var ranges = UnobservedRanges();
        if (Storage == WeightStorage.Float) return new Variables(inner.Params, ranges);
        using (inner.Params) return new Variables(TensorTree.Empty, QuantizeWeights(inner.Params).Merge(ranges));
    }

    /// <summary>The state's ranges, unobserved: (+inf, -inf), which the first training batch
    /// replaces and which cannot be converted.</summary>
    TensorTree UnobservedRanges()
    {
        var ranges = new List<(string, Tensor)>();
        Tensor Unobserved() => tensor(new[] { float.PositiveInfinity, float.NegativeInfinity });
        if (Static && (QuantizeInput || Storage == WeightStorage.Int8)) ranges.Add((InputRange, Unobserved()));
        if (Static && QuantizeOutput) ranges.Add((OutputRange, Unobserved()));
        return TensorTree.FromLeaves(ranges);
    }

    /// <summary>
    /// Float parameters of the inner layer as the int8 layer's state: kernels int8 with scales. With
    /// the <paramref name="inputScale"/> of a static layer, a channel's weight scale is raised
    /// where its bias would not fit int32 at the input scale times the weight scale (a channel of
    /// near-zero weights beside a normal bias), as ONNX Runtime's quantizer does.
    /// </summary>
    internal TensorTree QuantizeWeights(TensorTree parameters, Tensor? inputScale = null)
    {
        using var scope = NewDisposeScope();
        var leaves = new List<(string, Tensor)>();
        foreach (var (path, value) in parameters)
        {
            if (!IsKernel(path, value))
            {
                leaves.Add((path, value.detach().to_type(ScalarType.Float32).clone()));
                continue;
            }
            var scale = AffineQuantizer.WeightScale(value, ScaleAxis(value));
            if (inputScale is not null && path == "kernel" && parameters.TryGetLeaf("bias", out var bias))
            {
                // |b| / (s_in * s_w) must stay within int32.
                var needed = bias.detach().abs().to_type(ScalarType.Float64) / (inputScale.to_type(ScalarType.Float64) * BiasLimit);
                if (scale.dim() == 0) needed = needed.max();
                scale = torch.maximum(scale.to_type(ScalarType.Float64), needed).to_type(ScalarType.Float32);
            }
            leaves.Add((path, AffineQuantizer.QuantizeWeights(value, scale, ScaleAxis(value))));
            leaves.Add((path + ScaleSuffix, scale));
        }
        return TensorTree.FromLeaves(leaves).MoveToOuterDisposeScope();
    }

    /// <summary>The largest int32 bias: a little under 2^31, so float rounding never overflows it.</summary>
    const double BiasLimit = int.MaxValue - 128;

    /// <summary>The inner layer's parameters as the inner layer computes with them: int8 kernels
    /// dequantized, float kernels fake-quantized (with the straight-through gradient).</summary>
    TensorTree EffectiveParameters(Variables variables)
    {
        if (Storage == WeightStorage.Float)
            return variables.Params.Map((path, value) =>
            {
                if (!IsKernel(path, value)) return value;
                var scale = AffineQuantizer.WeightScale(value, ScaleAxis(value));
                return AffineQuantizer.FakeQuantize(value, scale, zeros_like(scale), -AffineQuantizer.WeightMax, AffineQuantizer.WeightMax, ScaleAxis(value));
            });
        var state = variables.State;
        return TensorTree.FromLeaves(state
            .Where(leaf => leaf.Key is not (InputRange or OutputRange) && !leaf.Key.EndsWith(ScaleSuffix, StringComparison.Ordinal))
            .Select(leaf => (leaf.Key, leaf.Value.dtype == ScalarType.Int8
                ? AffineQuantizer.Dequantize(leaf.Value, Scale(state, leaf.Key), axis: ScaleAxis(leaf.Value))
                : leaf.Value)));
    }

    Tensor Scale(TensorTree state, string kernelPath) =>
        state.TryGetLeaf(kernelPath + ScaleSuffix, out var scale) ? scale
            : throw new ShapeException($"Layer '{Name}' (quantized) has an int8 '{kernelPath}' without its '{kernelPath}{ScaleSuffix}'.");

    /// <inheritdoc/>
    public (Tensor Output, TensorTree State) Apply(Variables variables, Tensor input, ApplyContext context)
    {
        ArgumentNullException.ThrowIfNull(variables);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(context);
        if (!input.is_floating_point())
            throw new DtypeException($"Layer '{Name}' (quantized {LayerRegistry.KindOf(Inner)}) expects floating-point input, but received {input.dtype}.");
        foreach (var (path, value) in variables.Params)
            if (!value.is_floating_point())
                throw new DtypeException($"Layer '{Name}' (quantized {LayerRegistry.KindOf(Inner)}) has a parameter '{path}' of dtype {value.dtype}; parameters are floating point.");
        bool observing = context.Training && Storage == WeightStorage.Float;
        var state = variables.State;
        var updates = new List<(string, Tensor)>();
        var x = input.dtype == ScalarType.Float32 ? input : input.to_type(ScalarType.Float32);
        if (Static && (QuantizeInput || Storage == WeightStorage.Int8))
            x = QuantizeActivation(x, InputRange, state, observing, updates);
        else if (Activations == ActivationQuantization.Dynamic && Inner is Dense or Recurrent)
            x = DynamicRoundTrip(x);
        // The layers quantized have no state of their own.
        var (y, _) = Inner.Apply(new Variables(EffectiveParameters(variables), TensorTree.Empty), x, context);
        if (Static && QuantizeOutput) y = QuantizeActivation(y, OutputRange, state, observing, updates);
        if (updates.Count == 0) return (y, state);
        return (y, state.Filter((path, _) => !updates.Any(u => u.Item1 == path)).Merge(TensorTree.FromLeaves(updates)));
    }

    /// <summary>x quantized and dequantized with the range at <paramref name="name"/>, which in
    /// quantization-aware training first follows the batch.</summary>
    Tensor QuantizeActivation(Tensor x, string name, TensorTree state, bool observing, List<(string, Tensor)> updates)
    {
        if (!state.TryGetLeaf(name, out var range))
            throw new ShapeException($"Layer '{Name}' (quantized) has no '{name}' in its state.");
        if (observing)
        {
            using var noGrad = no_grad();
            var batch = stack([x.detach().min(), x.detach().max()]).to_type(ScalarType.Float32);
            var observed = range[0] <= range[1];
            range = where(observed, range * EmaDecay + batch * (1 - EmaDecay), batch);
            updates.Add((name, range));
        }
        var bounds = AffineQuantizer.Values(range);
        if (!(bounds[0] <= bounds[1]))
        {
            // A quantization-aware layer not yet trained has no range: values pass unquantized.
            if (Storage == WeightStorage.Float) return x;
            throw new InvalidOperationException($"Layer '{Name}' (quantized) has no observed '{name}': its model was not calibrated.");
        }
        var (scale, zeroPoint) = AffineQuantizer.ActivationParameters(bounds[0], bounds[1]);
        using (scale)
        using (zeroPoint)
            return AffineQuantizer.FakeQuantize(x, scale, zeroPoint, AffineQuantizer.ActivationMin, AffineQuantizer.ActivationMax);
    }

    /// <summary>What ONNX's DynamicQuantizeLinear does to a batch: uint8 over the batch's own
    /// range (widened to hold 0), then back to float (gradients pass straight through).</summary>
    static Tensor DynamicRoundTrip(Tensor x)
    {
        double min, max;
        using (NewDisposeScope())
        using (no_grad())
            (min, max) = (x.detach().min().item<float>(), x.detach().max().item<float>());
        var (scale, zeroPoint) = AffineQuantizer.ActivationParameters(Math.Min(0, min), Math.Max(0, max));
        using (scale)
        using (zeroPoint)
            return AffineQuantizer.FakeQuantize(x, scale, zeroPoint, AffineQuantizer.ActivationMin, AffineQuantizer.ActivationMax);
    }

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(variables);
        if (Inner is not IOnnxExportable inner)
            throw new NotSupportedException($"Layer '{Name}' ({LayerRegistry.KindOf(Inner)}) cannot be exported to ONNX yet.");
        using var scope = NewDisposeScope();
        // The input's scale and zero point: none where the layer leaves its input to the layer
        // before it (a quantization-aware layer sharing a range) or was never trained.
        var inputRange = Static && Observed(variables.State, InputRange) is { } r ? AffineQuantizer.ActivationParameters(r) : ((Tensor, Tensor)?)null;
        // Lowered as the int8 layer it is (or, for quantization-aware training, will be).
        var state = Storage == WeightStorage.Int8 ? variables.State
            : QuantizeWeights(variables.Params, inputRange?.Item1).Merge(variables.State.Filter((path, _) => path is InputRange or OutputRange));
        var x = input;
        // ONNX Runtime's fast integer convolution takes input channels in multiples of 4: a
        // convolution over 1 or 3 channels reads zero channels beside them, with zero weights.
        long extraChannels = inputRange is not null && Inner is Convolution ? (4 - state["kernel"].shape[1] % 4) % 4 : 0;
        if (extraChannels > 0)
        {
            long[] pads = [.. new long[inputShape.Length + 1], 0, extraChannels, .. new long[inputShape.Length - 1]];
            x = graph.Node("Pad", "pad_channels", [x, graph.Constant("pads", pads)]);
        }
        Tensor? inputScale = null;
        if (inputRange is { } quantizedInput)
        {
            x = graph.QuantizeDequantize(x, quantizedInput.Item1, quantizedInput.Item2);
            inputScale = quantizedInput.Item1;
        }
        var floats = new List<(string, Tensor)>();
        var quantized = new List<(Tensor, QuantizedConstant)>();
        foreach (var (path, stored) in state)
        {
            if (path is InputRange or OutputRange || path.EndsWith(ScaleSuffix, StringComparison.Ordinal)) continue;
            var value = stored;
            if (value.dtype == ScalarType.Int8)
            {
                if (extraChannels > 0 && path == "kernel")
                    value = cat([value, zeros([value.shape[0], extraChannels, .. value.shape[2..]], ScalarType.Int8)], 1);
                var scale = Scale(state, path);
                var stand = AffineQuantizer.Dequantize(value, scale, axis: ScaleAxis(value));
                floats.Add((path, stand));
                quantized.Add((stand, new QuantizedConstant(value, scale, null, ScaleAxis(value))));
            }
            else floats.Add((path, value));
        }
        var parameters = TensorTree.FromLeaves(floats);
        // A static Dense or convolution adds its bias in int32 at the input scale times each
        // channel's weight scale, the form ONNX Runtime fuses into its integer kernels.
        if (inputScale is not null && parameters.TryGetLeaf("bias", out var bias))
        {
            var biasScale = inputScale * Scale(state, "kernel");
            var q = (bias.to_type(ScalarType.Float64) / biasScale.to_type(ScalarType.Float64)).round().clamp(-BiasLimit, BiasLimit).to_type(ScalarType.Int32);
            quantized.Add((bias, new QuantizedConstant(q, biasScale, null, biasScale.dim() == 0 ? null : 0)));
        }
        string y;
        var inputs = Activations == ActivationQuantization.Dynamic ? QuantizedInputs.Dynamic
            : inputScale is not null ? QuantizedInputs.Static : QuantizedInputs.Float;
        using (graph.Quantizing(quantized, inputs))
            y = inner.ToOnnx(graph, x, inputShape, new Variables(parameters, TensorTree.Empty));
        if (Static && QuantizeOutput && Observed(state, OutputRange) is { } outputRange)
        {
            var (scale, zeroPoint) = AffineQuantizer.ActivationParameters(outputRange);
            y = graph.QuantizeDequantize(y, scale, zeroPoint);
        }
        return y;
    }

    /// <summary>The range at <paramref name="name"/> when the state has one that was observed.</summary>
    static Tensor? Observed(TensorTree state, string name)
    {
        if (!state.TryGetLeaf(name, out var range)) return null;
        var bounds = AffineQuantizer.Values(range);
        return bounds.Length == 2 && bounds[0] <= bounds[1] ? range : null;
    }
}
