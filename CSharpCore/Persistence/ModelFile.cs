using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Training;
using TorchSharp;

namespace Functional.Persistence;

/// <summary>
/// A saved model: a folder holding <c>model.json</c> (the versioned description of the network
/// and its input shape) and <c>state.safetensors</c> (parameters, model state and, unless left
/// out, optimizer state, step and seed). Both files are written atomically.
/// </summary>
public static class ModelFile
{
    /// <summary>The description format this version writes and the newest it reads.</summary>
    public const int FormatVersion = 1;
    const string Format = "functional.model", Description = "model.json", State = "state.safetensors";

    /// <summary>Saves <paramref name="model"/> into <paramref name="folder"/> (created if needed),
    /// with your own string <paramref name="metadata"/> (read back with <see cref="ReadMetadata"/>).</summary>
    public static void Save(string folder, Model model, bool includeOptimizerState = true, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var description = new JsonObject
        {
            ["format"] = Format,
            ["format_version"] = FormatVersion,
            ["input_shape"] = new JsonArray([.. model.InputShape.Select(d => (JsonNode)d)]),
            ["network"] = LayerSpec.ToJson(model.Network),
            ["metadata"] = new JsonObject([.. (metadata ?? new Dictionary<string, string>()).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
        };
        var state = includeOptimizerState ? model.State : model.State with { OptState = Trees.TensorTree.Empty };
        Directory.CreateDirectory(folder);
        TrainStateFile.Save(Path.Combine(folder, State), state);
        var json = Encoding.UTF8.GetBytes(description.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        AtomicFile.Write(Path.Combine(folder, Description), stream => stream.Write(json));
    }

    /// <summary>The metadata saved with the model (empty when none).</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string folder)
    {
        var description = ReadDescription(folder, out var path);
        if (description["metadata"] is null) return new Dictionary<string, string>();
        if (description["metadata"] is not JsonObject metadata) throw new InvalidDataException($"{path}: metadata is not an object.");
        return metadata.ToDictionary(kv => kv.Key,
            kv => kv.Value is JsonValue v && v.TryGetValue<string>(out var text) ? text : throw new InvalidDataException($"{path}: metadata '{kv.Key}' is not a string."));
    }

    /// <summary>The network, its input shape and its saved state, rebuilt without the code that built them.</summary>
    /// <exception cref="InvalidDataException">A missing or invalid file, an unknown layer type, a newer format, or weights that do not fit the network.</exception>
    public static (ILayer Network, long[] InputShape, TrainState State) Load(string folder)
    {
        var description = ReadDescription(folder, out var path);
        var inputShape = (description["input_shape"] as JsonArray ?? throw new InvalidDataException($"{path} has no input_shape."))
            .Select(d => d is JsonValue x && x.TryGetValue<long>(out var l) && l > 0 ? l : throw new InvalidDataException($"{path} has an invalid input_shape.")).ToArray();
        ILayer network;
        try { network = LayerSpec.FromJson(description["network"], "$.network"); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        var state = TrainStateFile.Load(Path.Combine(folder, State));
        try
        {
            using var scope = torch.NewDisposeScope();
            using var rng = new torch.Generator(0);
            var fresh = network.Init(rng, inputShape);
            fresh.Params.RequireSameStructure(state.Params, "saved parameters");
            fresh.State.RequireSameStructure(state.ModelState, "saved model state");
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{folder}: the saved weights do not fit the saved network: {e.Message}", e);
        }
        return (network, inputShape, state);
    }

    static JsonObject ReadDescription(string folder, out string path)
    {
        path = Path.Combine(folder, Description);
        if (!File.Exists(path)) throw new InvalidDataException($"{folder} holds no saved model: {Description} is missing.");
        JsonObject description;
        try { description = JsonNode.Parse(File.ReadAllBytes(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object."); }
        catch (JsonException e) { throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e); }
        if (description["format"] is not JsonValue f || !f.TryGetValue<string>(out var format) || format != Format)
            throw new InvalidDataException($"{path} does not describe a Functional model.");
        int version = description["format_version"] is JsonValue v && v.TryGetValue<int>(out var n) ? n : 0;
        if (version < 1) throw new InvalidDataException($"{path} has no valid format_version.");
        if (version > FormatVersion)
            throw new InvalidDataException($"{path} was written in format version {version}; this version of Functional reads up to {FormatVersion}.");
        return description;
    }

    /// <summary>A ready model: the saved network and state with your loss, optimizer and metrics
    /// (the optimizer's saved state is restored when it was saved and fits).</summary>
    public static Model LoadModel(string folder, LossFunction loss, GradientTransformation optimizer, IEnumerable<Metric>? metrics = null)
    {
        var (network, inputShape, state) = Load(folder);
        var model = new Model(network, inputShape, loss, optimizer, metrics, state.Seed);
        try
        {
            model.Resume(state.OptState.Count == 0 ? state with { OptState = model.State.OptState.Clone() } : state);
        }
        catch (ArgumentException e)
        {
            model.Dispose();
            throw new InvalidDataException($"{folder}: the saved state does not fit the saved network: {e.Message}", e);
        }
        return model;
    }
}
