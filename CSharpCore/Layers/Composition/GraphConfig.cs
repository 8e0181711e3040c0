using System.Text.Json.Nodes;

namespace Functional.Layers;

/// <summary>
/// A functional model as data: its inputs, each distinct layer once (so shared layers stay
/// shared), and its nodes in evaluation order, each naming the nodes it reads by index.
/// </summary>
static class GraphConfig
{
    public static LayerConfig Of(FunctionalModel model)
    {
        var ids = new Dictionary<GraphNode, int>(ReferenceEqualityComparer.Instance);
        var layers = new JsonObject();
        var nodes = new JsonArray();
        foreach (var node in model.Nodes)
        {
            ids[node] = ids.Count;
            var json = node switch
            {
                InputNode i => new JsonObject { ["op"] = "input", ["name"] = i.Name, ["input"] = IndexOf(model.Inputs, node) },
                LayerNode l => new JsonObject { ["op"] = "layer", ["layer"] = model.LayerName(l.Layer), ["from"] = ids[l.Input.Node] },
                MergeNode m => new JsonObject
                {
                    ["op"] = m.Kind, ["axis"] = m.Axis,
                    ["from"] = new JsonArray([.. m.Parts.Select(p => (JsonNode)ids[p.Node])]),
                },
                _ => throw new NotSupportedException($"Graph node {node.Describe()} cannot be saved."),
            };
            if (node is LayerNode layer && layers[model.LayerName(layer.Layer)] is null)
                layers[model.LayerName(layer.Layer)] = LayerRegistry.ToJson(layer.Layer);
            nodes.Add(json);
        }
        return new LayerConfig
        {
            { "inputs", new JsonArray([.. model.Inputs.Select(i => (JsonNode)new JsonArray([.. i.Shape.Select(d => (JsonNode)d)]))]) },
            { "layers", layers },
            { "nodes", nodes },
            { "outputs", new JsonArray([.. model.Outputs.Select(o => (JsonNode)ids[o.Node])]) },
        };
    }

    static int IndexOf(IReadOnlyList<SymbolicTensor> inputs, GraphNode node)
    {
        for (int i = 0; i < inputs.Count; i++) if (ReferenceEquals(inputs[i].Node, node)) return i;
        return -1;
    }

    public static FunctionalModel Build(LayerConfig description, string? name)
    {
        var (config, at) = (description.Json, description.Path);
        var inputShapes = (config["inputs"] as JsonArray ?? throw LayerRegistry.Bad($"{at}.inputs", "missing or not an array"))
            .Select((shape, i) => shape is JsonArray a
                ? a.Select((d, j) => d is JsonValue v && v.TryGetValue<long>(out var n) && n > 0 ? n : throw LayerRegistry.Bad($"{at}.inputs[{i}][{j}]", "not a positive integer")).ToArray()
                : throw LayerRegistry.Bad($"{at}.inputs[{i}]", "not an array")).ToArray();
        var layerSpecs = config["layers"] as JsonObject ?? throw LayerRegistry.Bad($"{at}.layers", "missing or not an object");
        var layers = new Dictionary<string, ILayer>(StringComparer.Ordinal);
        foreach (var (layerName, spec) in layerSpecs) layers[layerName] = LayerRegistry.FromJson(spec, $"{at}.layers.{layerName}");
        var nodeSpecs = config["nodes"] as JsonArray ?? throw LayerRegistry.Bad($"{at}.nodes", "missing or not an array");
        var built = new List<SymbolicTensor>();
        var inputs = new SymbolicTensor?[inputShapes.Length];
        SymbolicTensor Earlier(JsonNode? id, string where) =>
            id is JsonValue v && v.TryGetValue<int>(out var n) && n >= 0 && n < built.Count ? built[n]
            : throw LayerRegistry.Bad(where, "not the index of an earlier node");
        for (int k = 0; k < nodeSpecs.Count; k++)
        {
            var where = $"{at}.nodes[{k}]";
            var node = nodeSpecs[k] as JsonObject ?? throw LayerRegistry.Bad(where, "not an object");
            built.Add(Text(node, "op", where) switch
            {
                "input" => inputs[InputIndex(node, inputShapes.Length, where)] =
                    Graph.Input(inputShapes[InputIndex(node, inputShapes.Length, where)], Text(node, "name", where)),
                "layer" => (layers.TryGetValue(Text(node, "layer", where), out var layer) ? layer
                        : throw LayerRegistry.Bad($"{where}.layer", $"no layer '{node["layer"]}' in {at}.layers"))
                    .Call(Earlier(node["from"], $"{where}.from")),
                "add" => Graph.Add(Parts(node, where)),
                "concatenate" => Graph.Concatenate((int)Long(node, "axis", where), Parts(node, where)),
                var op => throw LayerRegistry.Bad($"{where}.op", $"unknown operation '{op}'"),
            });
        }
        SymbolicTensor[] Parts(JsonObject node, string where) =>
            node["from"] is JsonArray a ? [.. a.Select((id, i) => Earlier(id, $"{where}.from[{i}]"))] : throw LayerRegistry.Bad($"{where}.from", "missing or not an array");
        var outputs = (config["outputs"] as JsonArray ?? throw LayerRegistry.Bad($"{at}.outputs", "missing or not an array"))
            .Select((id, i) => Earlier(id, $"{at}.outputs[{i}]")).ToArray();
        if (inputs.Any(i => i is null)) throw LayerRegistry.Bad($"{at}.nodes", "not every input has a node");
        return new FunctionalModel(inputs!, outputs, name);
    }

    static int InputIndex(JsonObject node, int count, string where) =>
        (int)Long(node, "input", where) is var i && i >= 0 && i < count ? i : throw LayerRegistry.Bad($"{where}.input", $"not an input index below {count}");

    static string Text(JsonObject o, string field, string at) => new LayerConfig(o, at).Text(field);

    static long Long(JsonObject o, string field, string at) => new LayerConfig(o, at).Long(field);
}
