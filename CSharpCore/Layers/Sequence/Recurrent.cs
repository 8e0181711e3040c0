using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// A recurrent layer over (batch, time, features): runs a cell over the time axis from a zero
/// state and returns every step's output (batch, time, units) or only the last (batch, units).
/// <see cref="Lstm"/> and <see cref="Gru"/> are the cells; their gates follow Keras's layout.
/// </summary>
public abstract class Recurrent : Layer, IOnnxExportable
{
    private protected Recurrent(long units, int gates, bool returnSequences, Initializer? kernelInitializer, Initializer? recurrentInitializer, string? name)
        : base(name)
    {
        KernelInitializer = kernelInitializer ?? Initializers.GlorotUniform;
        RecurrentInitializer = recurrentInitializer ?? Initializers.GlorotUniform;
        Units = units > 0 ? units : throw new ArgumentOutOfRangeException(nameof(units), units, "A recurrent layer needs at least one unit.");
        Gates = gates;
        ReturnSequences = returnSequences;
    }

    /// <summary>Size of the state and output.</summary>
    public long Units { get; }
    /// <summary>Whether every time step's output is returned (else the last).</summary>
    public bool ReturnSequences { get; }
    /// <summary>Makes the input kernel (Glorot uniform by default).</summary>
    public Initializer KernelInitializer { get; }
    /// <summary>Makes the recurrent kernel (Glorot uniform by default).</summary>
    public Initializer RecurrentInitializer { get; }
    private protected int Gates { get; }

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape)
    {
        if (inputShape.Length != 2) throw ShapeError("(batch, time, features)", inputShape);
        return ReturnSequences ? [inputShape[0], Units] : [Units];
    }

    /// <inheritdoc/>
    protected override Variables Initialize(torch.Generator rng, long[] inputShape)
    {
        OutputShape(inputShape);
        long features = inputShape[1], width = Gates * Units;
        return new Variables(TensorTree.Of(
            ("kernel", KernelInitializer(rng, [features, width], features, width)),
            ("recurrent_kernel", RecurrentInitializer(rng, [Units, width], Units, width)),
            ("bias", InitialBias())), TensorTree.Empty);
    }

    private protected virtual Tensor InitialBias() => Initializers.Filled([Gates * Units], 0);

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        long features = RequireVariable(variables.Params, "kernel", -1, Gates * Units).shape[0];
        RequireVariable(variables.Params, "recurrent_kernel", Units, Gates * Units);
        RequireVariable(variables.Params, "bias", Gates * Units);
        if (variables.Params.ContainsLeaf("recurrent_bias")) RequireVariable(variables.Params, "recurrent_bias", Gates * Units);
        if (input.dim() != 3 || input.shape[2] != features)
            throw ShapeError($"(batch, time, {features})", input.shape[1..]);
    }

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        var p = variables.Params;
        // The input's contribution to every gate, for all time steps at once.
        var projected = input.matmul(p["kernel"]) + p["bias"];
        var h = torch.zeros(input.shape[0], Units, dtype: input.dtype, device: input.device);
        var carry = Initial(h);
        var outputs = new List<Tensor>((int)input.shape[1]);
        for (long t = 0; t < input.shape[1]; t++)
        {
            (h, carry) = Step(projected.select(1, t), h, carry, p);
            if (ReturnSequences) outputs.Add(h);
        }
        return (ReturnSequences ? torch.stack(outputs, 1) : h, variables.State);
    }

    /// <summary>The cell's extra state (an LSTM's cell; none for a GRU).</summary>
    private protected abstract Tensor? Initial(Tensor zeros);

    /// <summary>One time step: new output and extra state.</summary>
    private protected abstract (Tensor H, Tensor? Carry) Step(Tensor projected, Tensor h, Tensor? carry, TensorTree p);

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "units", Units }, { "return_sequences", ReturnSequences } };

    /// <summary>The layer unrolled over its time steps (fixed by the input shape) in ONNX, from a
    /// zero state whose batch size comes from the input.</summary>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables)
    {
        var p = variables.Params;
        long time = inputShape[0];
        var projected = graph.Affine("projected", input, p["kernel"], p["bias"]);
        var batch = graph.Node("Gather", "batch", [graph.Node("Shape", "shape", [input]), graph.Constant("first", 0L)], OnnxGraph.Int("axis", 0));
        var stateShape = graph.Node("Concat", "state_shape", [batch, graph.Constant("units", Units)], OnnxGraph.Int("axis", 0));
        string h = graph.Node("ConstantOfShape", "zeros", [stateShape]);   // float32 zeros by default
        string? carry = h;
        var step = OnnxStep(graph, p);
        var outputs = new List<string>();
        for (long t = 0; t < time; t++)
        {
            var xt = graph.Node("Gather", "step", [projected, graph.Constant("t", torch.tensor(t))], OnnxGraph.Int("axis", 1));
            (h, carry) = step(xt, h, carry);
            if (ReturnSequences) outputs.Add(graph.Node("Unsqueeze", "out", [h, graph.Constant("axis", 1L)]));
        }
        return ReturnSequences ? graph.Node("Concat", "sequence", outputs, OnnxGraph.Int("axis", 1)) : h;
    }

    /// <summary>The cell's time step in ONNX, given the step's projected input, the output and the
    /// extra state so far (the constants it needs are added once, here).</summary>
    private protected abstract Func<string, string, string?, (string H, string? Carry)> OnnxStep(OnnxGraph graph, TensorTree p);

    /// <summary>The gates of a (batch, gates * units) value, split along axis 1.</summary>
    private protected string[] SplitGates(OnnxGraph graph, string value, string sizes) =>
        graph.Nodes("Split", "gate", [value, sizes], Gates, OnnxGraph.Int("axis", 1));
}

/// <summary>
/// Long short-term memory. Parameters "kernel" (features, 4 units), "recurrent_kernel"
/// (units, 4 units) and "bias" (4 units), gates in Keras's order: input, forget, cell, output;
/// the forget gate's bias starts at 1.
/// </summary>
[LayerKind("lstm")]
public sealed class Lstm(long units, bool returnSequences = false, Initializer? kernelInitializer = null, Initializer? recurrentInitializer = null,
    string? name = null) : Recurrent(units, 4, returnSequences, kernelInitializer, recurrentInitializer, name)
{
    /// <summary>The layer a configuration describes (initialisers are not saved).</summary>
    public static Lstm FromConfig(LayerConfig config, string? name) =>
        new(config.Long("units"), config.Bool("return_sequences"), name: name);

    private protected override Tensor InitialBias()
    {
        var bias = Initializers.Filled([4 * Units], 0);
        bias.narrow(0, Units, Units).fill_(1);
        return bias;
    }

    private protected override Tensor? Initial(Tensor zeros) => zeros;

    private protected override Func<string, string, string?, (string H, string? Carry)> OnnxStep(OnnxGraph graph, TensorTree p)
    {
        var recurrent = graph.Constant("recurrent_kernel", p["recurrent_kernel"]);
        var sizes = graph.Constant("sizes", Units, Units, Units, Units);
        return (xt, h, carry) =>
        {
            var g = SplitGates(graph, graph.Node("Add", "gates", [xt, graph.Node("MatMul", "recurrent", [h, recurrent])]), sizes);
            var (i, f, cell, o) = (graph.Node("Sigmoid", "i", [g[0]]), graph.Node("Sigmoid", "f", [g[1]]), graph.Node("Tanh", "g", [g[2]]), graph.Node("Sigmoid", "o", [g[3]]));
            var c = graph.Node("Add", "c", [graph.Node("Mul", "c", [f, carry!]), graph.Node("Mul", "c", [i, cell])]);
            return (graph.Node("Mul", "h", [o, graph.Node("Tanh", "h", [c])]), c);
        };
    }

    private protected override (Tensor H, Tensor? Carry) Step(Tensor projected, Tensor h, Tensor? carry, TensorTree p)
    {
        var z = projected + h.matmul(p["recurrent_kernel"]);
        var gates = z.chunk(4, 1);
        var (i, f, g, o) = (gates[0].sigmoid(), gates[1].sigmoid(), gates[2].tanh(), gates[3].sigmoid());
        var c = f * carry! + i * g;
        return (o * c.tanh(), c);
    }
}

/// <summary>
/// Gated recurrent unit (Keras's default form, the reset gate applied after the recurrent
/// product). Parameters "kernel" (features, 3 units), "recurrent_kernel" (units, 3 units),
/// "bias" and "recurrent_bias" (3 units), gates in the order update, reset, candidate.
/// </summary>
[LayerKind("gru")]
public sealed class Gru(long units, bool returnSequences = false, Initializer? kernelInitializer = null, Initializer? recurrentInitializer = null,
    string? name = null) : Recurrent(units, 3, returnSequences, kernelInitializer, recurrentInitializer, name)
{
    /// <summary>The layer a configuration describes (initialisers are not saved).</summary>
    public static Gru FromConfig(LayerConfig config, string? name) =>
        new(config.Long("units"), config.Bool("return_sequences"), name: name);

    /// <inheritdoc/>
    protected override Variables Initialize(torch.Generator rng, long[] inputShape)
    {
        var v = base.Initialize(rng, inputShape);
        return v with { Params = v.Params.Merge(TensorTree.Of(("recurrent_bias", Initializers.Filled([3 * Units], 0)))) };
    }

    private protected override Tensor? Initial(Tensor zeros) => null;

    private protected override Func<string, string, string?, (string H, string? Carry)> OnnxStep(OnnxGraph graph, TensorTree p)
    {
        var recurrent = graph.Constant("recurrent_kernel", p["recurrent_kernel"]);
        var recurrentBias = graph.Constant("recurrent_bias", p["recurrent_bias"]);
        var sizes = graph.Constant("sizes", Units, Units, Units);
        return (xt, h, _) =>
        {
            var gx = SplitGates(graph, xt, sizes);
            var gh = SplitGates(graph, graph.Node("Add", "recurrent", [graph.Node("MatMul", "recurrent", [h, recurrent]), recurrentBias]), sizes);
            var update = graph.Node("Sigmoid", "z", [graph.Node("Add", "z", [gx[0], gh[0]])]);
            var reset = graph.Node("Sigmoid", "r", [graph.Node("Add", "r", [gx[1], gh[1]])]);
            var candidate = graph.Node("Tanh", "n", [graph.Node("Add", "n", [gx[2], graph.Node("Mul", "n", [reset, gh[2]])])]);
            // h = z h + (1 - z) n = n + z (h - n)
            return (graph.Node("Add", "h", [candidate, graph.Node("Mul", "h", [update, graph.Node("Sub", "h", [h, candidate])])]), null);
        };
    }

    private protected override (Tensor H, Tensor? Carry) Step(Tensor projected, Tensor h, Tensor? carry, TensorTree p)
    {
        var x = projected.chunk(3, 1);
        var r = (h.matmul(p["recurrent_kernel"]) + p["recurrent_bias"]).chunk(3, 1);
        var update = (x[0] + r[0]).sigmoid();
        var reset = (x[1] + r[1]).sigmoid();
        var candidate = (x[2] + reset * r[2]).tanh();
        return (update * h + (1 - update) * candidate, null);
    }
}
