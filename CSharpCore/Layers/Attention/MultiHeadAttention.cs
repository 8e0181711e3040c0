using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Multi-head scaled dot-product attention (Keras's MultiHeadAttention). As a layer it is
/// self-attention over (batch, time, features); <see cref="Attend"/> also takes separate query,
/// key and value sequences and a mask. Parameters "query", "key", "value" (kernel (features,
/// heads * keyDim), bias) and "output" (kernel (heads * keyDim, features), bias); the output has
/// the query's shape.
/// </summary>
[LayerKind("multi_head_attention")]
public sealed class MultiHeadAttention(long heads, long keyDim, bool causal = false, Initializer? kernelInitializer = null, string? name = null)
    : Layer(name), IOnnxExportable
{
    /// <summary>Number of heads.</summary>
    public long Heads { get; } = heads > 0 ? heads : throw new ArgumentOutOfRangeException(nameof(heads));
    /// <summary>Size of each head's queries and keys (and values).</summary>
    public long KeyDim { get; } = keyDim > 0 ? keyDim : throw new ArgumentOutOfRangeException(nameof(keyDim));
    /// <summary>Whether each position attends only to itself and earlier ones (self-attention).</summary>
    public bool Causal { get; } = causal;

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "heads", Heads }, { "key_dim", KeyDim }, { "causal", Causal } };

    /// <summary>The layer a configuration describes (initialisers are not saved).</summary>
    public static MultiHeadAttention FromConfig(LayerConfig config, string? name) =>
        new(config.Long("heads"), config.Long("key_dim"), config.Bool("causal"), name: name);

    /// <summary>Self-attention in ONNX: projections, heads, scaled dot products (with the causal
    /// mask as a constant, the sequence length being fixed by the input shape), output projection.</summary>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables)
    {
        var p = variables.Params;
        long time = inputShape[0];
        string Heads(string projection, long[] perm)
        {
            var projected = graph.Affine(projection, input, p[projection + "/kernel"], p[projection + "/bias"]);
            var split = graph.Node("Reshape", projection, [projected, graph.Constant("shape", 0, 0, this.Heads, KeyDim)]);
            return graph.Node("Transpose", projection, [split], OnnxGraph.Ints("perm", perm));
        }
        var q = Heads("query", [0, 2, 1, 3]);
        var k = Heads("key", [0, 2, 3, 1]);
        var v = Heads("value", [0, 2, 1, 3]);
        var scores = graph.Node("Div", "scores", [graph.Node("MatMul", "scores", [q, k]), graph.Scalar("scale", (float)Math.Sqrt(KeyDim))]);
        if (Causal)
        {
            using var allowed = CausalMask(time);
            using var mask = torch.zeros(time, time).masked_fill(allowed.logical_not(), float.NegativeInfinity);
            scores = graph.Node("Add", "causal", [scores, graph.Constant("mask", mask)]);
        }
        var attended = graph.Node("MatMul", "attend", [graph.Node("Softmax", "weights", [scores], OnnxGraph.Int("axis", -1)), v]);
        var merged = graph.Node("Reshape", "merge", [graph.Node("Transpose", "merge", [attended], OnnxGraph.Ints("perm", [0, 2, 1, 3])),
            graph.Constant("shape", 0, 0, this.Heads * KeyDim)]);
        return graph.Affine("output", merged, p["output/kernel"], p["output/bias"]);
    }

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length == 2 ? inputShape : throw ShapeError("(batch, time, features)", inputShape);

    /// <inheritdoc/>
    protected override Variables Initialize(torch.Generator rng, long[] inputShape)
    {
        long features = OutputShape(inputShape)[1], width = Heads * KeyDim;
        TensorTree Projection(long inputs, long outputs) => TensorTree.Of(
            ("kernel", (kernelInitializer ?? Initializers.GlorotUniform)(rng, [inputs, outputs], inputs, outputs)), ("bias", Initializers.Filled([outputs], 0)));
        return new Variables(TensorTree.Node(
            ("query", Projection(features, width)), ("key", Projection(features, width)),
            ("value", Projection(features, width)), ("output", Projection(width, features))), TensorTree.Empty);
    }

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        long features = RequireVariable(variables.Params, "query/kernel", -1, Heads * KeyDim).shape[0];
        if (input.dim() != 3 || input.shape[2] != features) throw ShapeError($"(batch, time, {features})", input.shape[1..]);
    }

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (Attend(variables.Params, input, input, input, Causal ? CausalMask(input.shape[1]) : null), variables.State);

    /// <summary>
    /// Attention of <paramref name="query"/> (batch, tq, features) over <paramref name="key"/> and
    /// <paramref name="value"/> (batch, tk, features). <paramref name="mask"/> (tq, tk) or
    /// (batch, tq, tk), true where attending is allowed. Shapes and dtypes are checked first
    /// (<see cref="ShapeException"/>, <see cref="DtypeException"/>); floating inputs are cast to
    /// the parameters' dtype.
    /// </summary>
    public Tensor Attend(TensorTree parameters, Tensor query, Tensor key, Tensor value, Tensor? mask = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var dtype = VariablesDtype(new Variables(parameters, TensorTree.Empty));
        (query, key, value) = (Sequence(parameters, "query", query, dtype), Sequence(parameters, "key", key, dtype), Sequence(parameters, "value", value, dtype));
        if (key.shape[0] != query.shape[0] || value.shape[0] != query.shape[0] || value.shape[1] != key.shape[1])
            throw new ShapeException(
                $"Layer '{Name}' ({Kind}) needs query, key and value of one batch size and key and value of one length; received query {ShapeException.Format(query.shape)}, key {ShapeException.Format(key.shape)}, value {ShapeException.Format(value.shape)}.");
        long width = this.Heads * KeyDim;
        RequireVariable(parameters, "output/kernel", width, -1);
        RequireVariable(parameters, "output/bias", parameters["output/kernel"].shape[1]);
        long tq = query.shape[1], tk = key.shape[1];
        if (mask is not null && (mask.dtype != ScalarType.Bool
            || !(mask.shape.SequenceEqual([tq, tk]) || mask.shape.SequenceEqual([query.shape[0], tq, tk]))))
            throw new ShapeException(
                $"Layer '{Name}' ({Kind}) needs a boolean mask of shape ({tq}, {tk}) or ({query.shape[0]}, {tq}, {tk}); received {mask.dtype} {ShapeException.Format(mask.shape)}.");
        Tensor Heads(Tensor x, string projection) =>
            (x.matmul(parameters[projection + "/kernel"]) + parameters[projection + "/bias"])
            .view(x.shape[0], x.shape[1], this.Heads, KeyDim).transpose(1, 2);           // (batch, heads, t, keyDim)
        var (q, k, v) = (Heads(query, "query"), Heads(key, "key"), Heads(value, "value"));
        var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(KeyDim);                   // (batch, heads, tq, tk)
        if (mask is not null)
            scores = scores.masked_fill((mask.dim() == 3 ? mask.unsqueeze(1) : mask).logical_not(), double.NegativeInfinity);
        var attended = PrecisionPolicy.InFloat32(scores).softmax(-1).to_type(v.dtype).matmul(v).transpose(1, 2).reshape(query.shape[0], query.shape[1], width);
        return attended.matmul(parameters["output/kernel"]) + parameters["output/bias"];
    }

    /// <summary>A query, key or value sequence checked against its projection, in the parameters' dtype.</summary>
    Tensor Sequence(TensorTree parameters, string projection, Tensor x, ScalarType? dtype)
    {
        ArgumentNullException.ThrowIfNull(x, projection);
        long features = RequireVariable(parameters, projection + "/kernel", -1, Heads * KeyDim).shape[0];
        RequireVariable(parameters, projection + "/bias", Heads * KeyDim);
        x = AcceptDtype(x, dtype, projection);
        if (x.dim() != 3 || x.shape[2] != features)
            throw new ShapeException($"Layer '{Name}' ({Kind}) expects {projection} of shape (batch, time, {features}), but received {ShapeException.Format(x.shape)}.");
        return x;
    }

    /// <summary>A (t, t) mask allowing each position to see itself and earlier positions.</summary>
    public static Tensor CausalMask(long time) => torch.ones(time, time, dtype: ScalarType.Bool).tril();
}
