// A custom attention layer inside a functional-API model. Each sequence has one marked step
// (feature 0 is 1 there); the label is whether feature 1 at that step is positive. The model
// must find the marked step: self-attention mixes the steps, and the custom layer below,
// attention pooling, learns which step to read.
// The layer describes itself (a kind and a configuration), so the trained model saves and loads
// back without this program's code paths knowing its type.
// Run: dotnet run --project examples/CSharpAttention -- --epochs 15
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Persistence;
using Functional.Training;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

int epochs = Array.IndexOf(args, "--epochs") is var i and >= 0 ? int.Parse(args[i + 1]) : 15;
const long Time = 8, Features = 4;
using var rng = new torch.Generator(0);

(Tensor X, Tensor Y) Sequences(long n)
{
    var x = torch.randn([n, Time, Features], generator: rng);
    var marked = torch.randint(0, Time, [n], generator: rng);
    x[.., .., 0] = torch.nn.functional.one_hot(marked, Time).to_type(ScalarType.Float32);
    var label = x.gather(1, marked.view(n, 1, 1).expand(n, 1, Features))[.., 0, 1].gt(0).to_type(ScalarType.Int64);
    return (x, label);
}
var (trainX, trainY) = Sequences(4000);
var (testX, testY) = Sequences(1000);

// The functional model: a residual self-attention block, then the custom pooling.
var tokens = Graph.Input([Time, Features], "tokens");
var hidden = new Dense(32, ActivationFunction.Tanh).Call(tokens);
var attended = Graph.Add(hidden, new MultiHeadAttention(heads: 2, keyDim: 16).Call(hidden));
var pooled = new AttentionPooling().Call(attended);
var logits = new Dense(2).Call(new Dense(32, ActivationFunction.Relu).Call(pooled));
var network = new FunctionalModel([tokens], [logits], "marked_step");

using var model = new Model(network, [Time, Features], Loss.SparseCategoricalCrossEntropy(fromLogits: true),
    Optimizer.Adam(3e-3), [new SparseCategoricalAccuracy()]);
Console.WriteLine(model.Summary());
model.Fit(trainX, trainY, new FitOptions { Epochs = epochs, BatchSize = 64, ValidationData = new(testX, testY) });
Console.WriteLine($"test_accuracy={model.Evaluate(testX, testY)["accuracy"]:F4}");

// Save and load: the registry rebuilds the custom layer from its kind and configuration.
LayerRegistry.Register<AttentionPooling>("attention_pooling", AttentionPooling.FromConfig);
var folder = Path.Combine(Path.GetTempPath(), $"marked-step-{Guid.NewGuid():N}");
ModelFile.Save(folder, model);
var (loaded, _, state) = ModelFile.Load(folder);
Directory.Delete(folder, recursive: true);
var (again, _) = loaded.Apply(new Variables(state.Params, state.ModelState), testX, ApplyContext.Inference);
var (before, _) = network.Apply(new Variables(model.State.Params, model.State.ModelState), testX, ApplyContext.Inference);
Console.WriteLine($"reloaded_max_abs_diff={(again - before).abs().max().item<float>():G3}");

/// <summary>
/// A custom layer: pools (batch, time, features) to (batch, features) with a learned query:
/// weights = softmax over time of (h · query), output = the weighted sum of the steps.
/// </summary>
sealed class AttentionPooling(string? name = null) : Layer(name)
{
    public override string Kind => "attention_pooling";

    // No settings to save; a layer with settings lists them here, as Dense does its units.
    public override LayerConfig Config => new();

    public static AttentionPooling FromConfig(LayerConfig config, string? name) => new(name);

    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length == 2 ? [inputShape[1]] : throw ShapeError("(batch, time, features)", inputShape);

    protected override Variables Initialize(torch.Generator rng, long[] inputShape) =>
        new(TensorTree.Of(("query", Initializers.Normal(0.1)(rng, [OutputShape(inputShape)[0]], 0, 0))), TensorTree.Empty);

    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        var weights = input.matmul(variables.Params["query"]).softmax(-1);     // (batch, time)
        return ((weights.unsqueeze(-1) * input).sum(1), variables.State);
    }
}
