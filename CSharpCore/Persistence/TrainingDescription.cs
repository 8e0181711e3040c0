using System.Text.Json.Nodes;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Training;

namespace Functional.Persistence;

/// <summary>
/// The training configuration saved with a model (Keras's compile arguments): the optimizer, the
/// loss and the metrics when all are built in, so <see cref="ModelFile.LoadModel(string)"/>
/// needs nothing else; the frozen paths and class names are saved either way.
/// </summary>
static class TrainingDescription
{
    /// <summary>The description, or null when a part is not built in (a custom loss, a schedule).</summary>
    public static JsonObject? Of(Model model)
    {
        if (model.BaseOptimizer.Description is not { } optimizer) return null;
        var outputs = new JsonObject();
        foreach (var (name, output) in model.Outputs)
        {
            var metrics = output.Metrics.Select(m => m.Description).ToArray();
            if (output.Loss.Description is not { } loss || metrics.Any(m => m is null)) return null;
            outputs[name] = new JsonObject
            {
                ["loss"] = loss.DeepClone(),
                ["weight"] = output.Weight,
                ["metrics"] = new JsonArray([.. metrics.Select(m => m!.DeepClone())]),
            };
        }
        if (model.OutputNames is not null) return new JsonObject { ["optimizer"] = optimizer.DeepClone(), ["outputs"] = outputs };
        var single = (JsonObject)outputs[""]!;
        return new JsonObject { ["optimizer"] = optimizer.DeepClone(), ["loss"] = single["loss"]!.DeepClone(), ["metrics"] = single["metrics"]!.DeepClone() };
    }

    /// <summary>The optimizer and each output's loss, weight and metrics a description names
    /// (one output "" for a model fed one tensor).</summary>
    /// <exception cref="InvalidDataException">An unknown type or a malformed field (the message gives its JSON path).</exception>
    public static (GradientTransformation Optimizer, Dictionary<string, OutputLoss> Outputs) Build(JsonObject training)
    {
        var config = new LayerConfig(training, "$.training");
        try
        {
            var outputs = new Dictionary<string, OutputLoss>(StringComparer.Ordinal);
            if (training["outputs"] is null) outputs[""] = Output(config, weighted: false);
            else
                foreach (var (name, node) in config.Object("outputs"))
                    outputs[name] = Output(node is JsonObject o ? new LayerConfig(o, $"$.training.outputs.{name}") : throw config.Bad($"outputs.{name}", "not an object"), weighted: true);
            return (Optimizer(config.Object("optimizer")), outputs);
        }
        catch (Exception e) when (e is ArgumentException)
        {
            throw LayerRegistry.Bad("$.training", $"invalid setting: {e.Message}");
        }
    }

    static OutputLoss Output(LayerConfig c, bool weighted) =>
        new(Loss(c.Object("loss")), weighted ? c.Double("weight") : 1,
            [.. c.Array("metrics").Select((m, i) => Metric(
                m as JsonObject is { } o ? new LayerConfig(o, $"{c.Path}.metrics[{i}]") : throw c.Bad($"metrics[{i}]", "not an object")))]);

    static GradientTransformation Optimizer(LayerConfig c) => c.Text("type") switch
    {
        "sgd" => Optimizers.Optimizer.Sgd(c.Double("learning_rate"), c.Double("momentum"), c.Bool("nesterov")),
        "adam" => Optimizers.Optimizer.Adam(c.Double("learning_rate"), c.Double("beta1"), c.Double("beta2"), c.Double("epsilon")),
        "adamw" => Optimizers.Optimizer.AdamW(c.Double("learning_rate"), c.Double("weight_decay"), c.Double("beta1"), c.Double("beta2"), c.Double("epsilon")),
        "rmsprop" => Optimizers.Optimizer.RmsProp(c.Double("learning_rate"), c.Double("decay"), c.Double("epsilon")),
        "adagrad" => Optimizers.Optimizer.Adagrad(c.Double("learning_rate"), c.Double("initial_accumulator"), c.Double("epsilon")),
        "prune_magnitude" => ModelOptimization.Pruning.FromDescription(c, Optimizer),
        var other => throw c.Bad("type", $"unknown optimizer '{other}'"),
    };

    static LossFunction Loss(LayerConfig c) => c.Text("type") switch
    {
        "mean_squared_error" => Losses.Loss.MeanSquaredError,
        "mean_absolute_error" => Losses.Loss.MeanAbsoluteError,
        "huber" => Losses.Loss.Huber(c.Double("delta")),
        "binary_cross_entropy" => Losses.Loss.BinaryCrossEntropy(c.Bool("from_logits")),
        "categorical_cross_entropy" => Losses.Loss.CategoricalCrossEntropy(c.Bool("from_logits")),
        "sparse_categorical_cross_entropy" => Losses.Loss.SparseCategoricalCrossEntropy(c.Bool("from_logits"),
            c.Json["ignore_index"] is null ? null : c.Long("ignore_index")),
        "kl_divergence" => Losses.Loss.KLDivergence,
        var other => throw c.Bad("type", $"unknown loss '{other}'"),
    };

    static Metric Metric(LayerConfig c) => c.Text("type") switch
    {
        "sparse_categorical_accuracy" => new SparseCategoricalAccuracy(c.Text("name")),
        "categorical_accuracy" => new CategoricalAccuracy(c.Text("name")),
        "binary_accuracy" => new BinaryAccuracy(c.Double("threshold"), c.Text("name"), c.Bool("from_logits")),
        "top_k_accuracy" => new TopKAccuracy((int)c.Long("k"), c.Text("name")),
        "precision" => new Precision(c.Double("threshold"), c.Text("name")),
        "recall" => new Recall(c.Double("threshold"), c.Text("name")),
        "f1" => new F1Score(c.Double("threshold"), c.Text("name")),
        "auc" => new Auc((int)c.Long("thresholds"), c.Text("name")),
        "mean_absolute_error" => new Metrics.MeanAbsoluteError(c.Text("name")),
        "root_mean_squared_error" => new RootMeanSquaredError(c.Text("name")),
        "r2" => new R2Score(c.Text("name")),
        var other => throw c.Bad("type", $"unknown metric '{other}'"),
    };
}
