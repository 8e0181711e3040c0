using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Looks up a vector per integer id: input (batch, ...) of ids in [0, vocabulary) to
/// (batch, ..., dimensions). Parameter "embeddings" (vocabulary, dimensions).
/// </summary>
[LayerKind("embedding")]
public sealed class Embedding(long vocabulary, long dimensions, Initializer? initializer = null, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>Number of ids.</summary>
    public long Vocabulary { get; } = vocabulary > 0 ? vocabulary : throw new ArgumentOutOfRangeException(nameof(vocabulary));
    /// <summary>Length of each vector.</summary>
    public long Dimensions { get; } = dimensions > 0 ? dimensions : throw new ArgumentOutOfRangeException(nameof(dimensions));

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "vocabulary", Vocabulary }, { "dimensions", Dimensions } };

    /// <summary>The layer a configuration describes.</summary>
    public static Embedding FromConfig(LayerConfig config, string? name) =>
        new(config.Long("vocabulary"), config.Long("dimensions"), name: name);

    /// <inheritdoc/>
    protected override InputDtypes Accepts => InputDtypes.Integer;

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) => [.. inputShape, Dimensions];

    /// <inheritdoc/>
    protected override Variables Initialize(torch.Generator rng, long[] inputShape) =>
        new(TensorTree.Of(("embeddings", (initializer ?? UniformSmall)(rng, [Vocabulary, Dimensions], Vocabulary, Dimensions))), TensorTree.Empty);

    static readonly Initializer UniformSmall = Initializers.UniformIn(0.05);

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        if (input.numel() == 0) return;
        using var scope = torch.NewDisposeScope();
        var min = input.min().to_type(ScalarType.Int64);
        var max = input.max().to_type(ScalarType.Int64);
        long low = min.item<long>(), high = max.item<long>();
        if (low < 0 || high >= Vocabulary)
            throw new ShapeException($"Layer '{Name}' (embedding) has ids in [0, {Vocabulary}), but received ids from {low} to {high}.");
    }

    /// <summary>Looks up in float32 and gives the rows in the compute dtype under a mixed policy
    /// (casting the whole table each step would cost more than the rows).</summary>
    protected override MixedPrecision UnderMixedPrecision => MixedPrecision.Float32ThenCompute;

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (variables.Params["embeddings"].index_select(0, input.to_type(ScalarType.Int64).flatten()).view([.. input.shape, Dimensions]), variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Node("Gather", "embedding", [graph.Constant("embeddings", variables.Params["embeddings"]), input], OnnxGraph.Int("axis", 0));
}
