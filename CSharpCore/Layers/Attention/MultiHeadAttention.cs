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
public sealed class MultiHeadAttention(long heads, long keyDim, bool causal = false, Initializer? kernelInitializer = null, string? name = null)
    : Layer(name)
{
    /// <summary>Number of heads.</summary>
    public long Heads { get; } = heads > 0 ? heads : throw new ArgumentOutOfRangeException(nameof(heads));
    /// <summary>Size of each head's queries and keys (and values).</summary>
    public long KeyDim { get; } = keyDim > 0 ? keyDim : throw new ArgumentOutOfRangeException(nameof(keyDim));
    /// <summary>Whether each position attends only to itself and earlier ones (self-attention).</summary>
    public bool Causal { get; } = causal;

    /// <inheritdoc/>
    public override string Kind => "multi_head_attention";

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length == 2 ? inputShape : throw ShapeError("(batch, time, features)", inputShape);

    /// <inheritdoc/>
    public override Variables Init(torch.Generator rng, long[] inputShape)
    {
        long features = OutputShape(inputShape)[1], width = Heads * KeyDim;
        TensorTree Projection(long inputs, long outputs) => TensorTree.Of(
            ("kernel", (kernelInitializer ?? Initializers.GlorotUniform)(rng, [inputs, outputs], inputs, outputs)), ("bias", torch.zeros(outputs)));
        return new Variables(TensorTree.Node(
            ("query", Projection(features, width)), ("key", Projection(features, width)),
            ("value", Projection(features, width)), ("output", Projection(width, features))), TensorTree.Empty);
    }

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        RequireFloatingPoint(input);
        long features = variables.Params["query/kernel"].shape[0];
        if (input.dim() != 3 || input.shape[2] != features) throw ShapeError($"(batch, time, {features})", input.shape[1..]);
    }

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (Attend(variables.Params, input, input, input, Causal ? CausalMask(input.shape[1]) : null), variables.State);

    /// <summary>
    /// Attention of <paramref name="query"/> (batch, tq, features) over <paramref name="key"/> and
    /// <paramref name="value"/> (batch, tk, features). <paramref name="mask"/> (tq, tk) or
    /// (batch, tq, tk), true where attending is allowed.
    /// </summary>
    public Tensor Attend(TensorTree parameters, Tensor query, Tensor key, Tensor value, Tensor? mask = null)
    {
        Tensor Heads(Tensor x, string projection) =>
            (x.matmul(parameters[projection + "/kernel"]) + parameters[projection + "/bias"])
            .view(x.shape[0], x.shape[1], this.Heads, KeyDim).transpose(1, 2);           // (batch, heads, t, keyDim)
        var (q, k, v) = (Heads(query, "query"), Heads(key, "key"), Heads(value, "value"));
        var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(KeyDim);                   // (batch, heads, tq, tk)
        if (mask is not null)
            scores = scores.masked_fill((mask.dim() == 3 ? mask.unsqueeze(1) : mask).logical_not(), double.NegativeInfinity);
        var attended = scores.softmax(-1).matmul(v).transpose(1, 2).reshape(query.shape[0], query.shape[1], this.Heads * KeyDim);
        return attended.matmul(parameters["output/kernel"]) + parameters["output/bias"];
    }

    /// <summary>A (t, t) mask allowing each position to see itself and earlier positions.</summary>
    public static Tensor CausalMask(long time) => torch.ones(time, time, dtype: ScalarType.Bool).tril();
}
