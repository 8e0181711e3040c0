using System.Text.Json.Nodes;
using Functional.Layers;

namespace Functional.Persistence;

/// <summary>
/// The model description as data: every built-in layer and Sequential to and from JSON
/// (<c>{"type": "dense", "name": ..., "config": {...}}</c>), so a saved model is rebuilt without
/// the code that built it. Custom layers register a type name with a saver and a loader.
/// Initialisers are not saved (loaded layers get their weights from the file).
/// </summary>
public static class LayerSpec
{
    static readonly Dictionary<string, (Type Type, Func<ILayer, JsonObject> Save, Func<JsonObject, string?, ILayer> Load)> Custom = new(StringComparer.Ordinal);

    /// <summary>Registers a custom layer type: <paramref name="save"/> writes its configuration,
    /// <paramref name="load"/> rebuilds it from that configuration and its name.</summary>
    public static void Register<TLayer>(string type, Func<TLayer, JsonObject> save, Func<JsonObject, string?, TLayer> load) where TLayer : ILayer
    {
        lock (Custom) Custom[type] = (typeof(TLayer), l => save((TLayer)l), (c, n) => load(c, n));
    }

    /// <summary>The layer's description.</summary>
    /// <exception cref="NotSupportedException">A layer type that is neither built in nor registered (the message names it).</exception>
    public static JsonObject ToJson(ILayer layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var (type, config) = layer switch
        {
            Dense d => ("dense", new JsonObject { ["units"] = d.Units, ["activation"] = d.Activation.Name, ["use_bias"] = d.UseBias }),
            Conv1D c => ("conv1d", Convolution(c)),
            Conv2D c => ("conv2d", Convolution(c)),
            Pooling p => (p.Kind, new JsonObject { ["pool_size"] = p.PoolSize[0], ["stride"] = p.Strides[0], ["padding"] = p.Padding.ToString() }),
            GlobalPool g => ("global_pool", new JsonObject { ["reduction"] = g.Reduction.ToString() }),
            Flatten => ("flatten", new JsonObject()),
            Reshape r => ("reshape", new JsonObject { ["target_shape"] = Array(r.TargetShape) }),
            Dropout d => ("dropout", new JsonObject { ["rate"] = d.Rate }),
            BatchNorm b => ("batch_norm", new JsonObject { ["momentum"] = b.Momentum, ["epsilon"] = b.Epsilon }),
            LayerNorm n => ("layer_norm", new JsonObject { ["epsilon"] = n.Epsilon }),
            Embedding e => ("embedding", new JsonObject { ["vocabulary"] = e.Vocabulary, ["dimensions"] = e.Dimensions }),
            Lstm l => ("lstm", new JsonObject { ["units"] = l.Units, ["return_sequences"] = l.ReturnSequences }),
            Gru g => ("gru", new JsonObject { ["units"] = g.Units, ["return_sequences"] = g.ReturnSequences }),
            MultiHeadAttention m => ("multi_head_attention", new JsonObject { ["heads"] = m.Heads, ["key_dim"] = m.KeyDim, ["causal"] = m.Causal }),
            Activation a => ("activation", new JsonObject { ["function"] = a.Function.Name }),
            Residual r => ("residual", new JsonObject { ["inner"] = ToJson(r.Inner) }),
            Sequential s => ("sequential", new JsonObject { ["layers"] = new JsonArray([.. s.Layers.Select(l => (JsonNode)ToJson(l.Layer))]) }),
            FunctionalModel f => ("functional", GraphSpec.ToJson(f)),
            _ => CustomToJson(layer),
        };
        return new JsonObject { ["type"] = type, ["name"] = layer.Name, ["config"] = config };
    }

    static (string, JsonObject) CustomToJson(ILayer layer)
    {
        lock (Custom)
            foreach (var (type, entry) in Custom)
                if (entry.Type == layer.GetType()) return (type, entry.Save(layer));
        throw new NotSupportedException(
            $"Layer '{layer.Name}' ({layer.GetType().Name}) cannot be saved: register it with LayerSpec.Register(type, save, load).");
    }

    static JsonObject Convolution(Layers.Convolution c) => new()
    {
        ["filters"] = c.Filters, ["kernel_size"] = c.KernelSize[0], ["stride"] = c.Strides[0],
        ["padding"] = c.Padding.ToString(), ["activation"] = c.Activation.Name, ["use_bias"] = c.UseBias,
    };

    internal static JsonArray Array(long[] values) => new([.. values.Select(v => (JsonNode)v)]);

    /// <summary>Rebuilds a layer from its description.</summary>
    /// <exception cref="InvalidDataException">An unknown type or activation, a missing or malformed field (the message gives its JSON path).</exception>
    public static ILayer FromJson(JsonNode? node, string where = "$")
    {
        var o = node as JsonObject ?? throw Bad(where, "a layer must be a JSON object");
        var type = Text(o, "type", where);
        var name = o["name"] is null ? null : Text(o, "name", where);
        var c = o["config"] as JsonObject ?? throw Bad($"{where}.config", "missing or not an object");
        var at = $"{where}.config";
        try
        {
            return type switch
            {
                "dense" => new Dense(Long(c, "units", at), ActivationOf(c, at), Bool(c, "use_bias", at), name: name),
                "conv1d" => new Conv1D(Long(c, "filters", at), Long(c, "kernel_size", at), Long(c, "stride", at), PaddingOf(c, at), ActivationOf(c, at), Bool(c, "use_bias", at), name: name),
                "conv2d" => new Conv2D(Long(c, "filters", at), Long(c, "kernel_size", at), Long(c, "stride", at), PaddingOf(c, at), ActivationOf(c, at), Bool(c, "use_bias", at), name: name),
                "max_pool1d" => new MaxPool1D(Long(c, "pool_size", at), Long(c, "stride", at), PaddingOf(c, at), name),
                "max_pool2d" => new MaxPool2D(Long(c, "pool_size", at), Long(c, "stride", at), PaddingOf(c, at), name),
                "average_pool1d" => new AveragePool1D(Long(c, "pool_size", at), Long(c, "stride", at), PaddingOf(c, at), name),
                "average_pool2d" => new AveragePool2D(Long(c, "pool_size", at), Long(c, "stride", at), PaddingOf(c, at), name),
                "global_pool" => new GlobalPool(EnumOf<PoolKind>(c, "reduction", at), name),
                "flatten" => new Flatten(name),
                "reshape" => new Reshape(Longs(c, "target_shape", at), name),
                "dropout" => new Dropout(Double(c, "rate", at), name),
                "batch_norm" => new BatchNorm(Double(c, "momentum", at), Double(c, "epsilon", at), name),
                "layer_norm" => new LayerNorm(Double(c, "epsilon", at), name),
                "embedding" => new Embedding(Long(c, "vocabulary", at), Long(c, "dimensions", at), name: name),
                "lstm" => new Lstm(Long(c, "units", at), Bool(c, "return_sequences", at), name: name),
                "gru" => new Gru(Long(c, "units", at), Bool(c, "return_sequences", at), name: name),
                "multi_head_attention" => new MultiHeadAttention(Long(c, "heads", at), Long(c, "key_dim", at), Bool(c, "causal", at), name: name),
                "activation" => new Activation(ActivationNamed(Text(c, "function", at), $"{at}.function"), name),
                "residual" => new Residual(FromJson(c["inner"], $"{at}.inner"), name),
                "sequential" => new Sequential(
                    (c["layers"] as JsonArray ?? throw Bad($"{at}.layers", "missing or not an array")).Select((l, i) => FromJson(l, $"{at}.layers[{i}]")), name),
                "functional" => GraphSpec.FromJson(c, name, at),
                _ => CustomFromJson(type, c, name, where),
            };
        }
        catch (Exception e) when (e is ArgumentException and not ShapeException)
        {
            throw Bad(at, $"invalid configuration for '{type}': {e.Message}");
        }
    }

    static ILayer CustomFromJson(string type, JsonObject config, string? name, string where)
    {
        lock (Custom)
            if (Custom.TryGetValue(type, out var entry)) return entry.Load(config, name);
        throw Bad($"{where}.type", $"unknown layer type '{type}' (register custom layers with LayerSpec.Register)");
    }

    static ActivationFunction ActivationOf(JsonObject c, string at) => ActivationNamed(Text(c, "activation", at), $"{at}.activation");

    static ActivationFunction ActivationNamed(string name, string at) =>
        ActivationFunction.BuiltIn.TryGetValue(name, out var f) ? f
        : throw Bad(at, $"unknown activation '{name}' (built in: {string.Join(", ", ActivationFunction.BuiltIn.Keys)})");

    static Padding PaddingOf(JsonObject c, string at) => EnumOf<Padding>(c, "padding", at);

    static T EnumOf<T>(JsonObject c, string field, string at) where T : struct, Enum =>
        Enum.TryParse<T>(Text(c, field, at), ignoreCase: false, out var value) && Enum.IsDefined(value) ? value
        : throw Bad($"{at}.{field}", $"'{c[field]}' is not one of {string.Join(", ", Enum.GetNames<T>())}");

    internal static string Text(JsonObject o, string field, string at) =>
        o[field] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw Bad($"{at}.{field}", "missing or not a string");

    internal static long Long(JsonObject o, string field, string at) =>
        o[field] is JsonValue v && v.TryGetValue<long>(out var n) ? n : throw Bad($"{at}.{field}", "missing or not an integer");

    static double Double(JsonObject o, string field, string at) =>
        o[field] is JsonValue v && v.TryGetValue<double>(out var n) ? n : throw Bad($"{at}.{field}", "missing or not a number");

    static bool Bool(JsonObject o, string field, string at) =>
        o[field] is JsonValue v && v.TryGetValue<bool>(out var b) ? b : throw Bad($"{at}.{field}", "missing or not true/false");

    internal static long[] Longs(JsonObject o, string field, string at) =>
        o[field] is JsonArray a ? [.. a.Select((n, i) => n is JsonValue v && v.TryGetValue<long>(out var x) ? x : throw Bad($"{at}.{field}[{i}]", "not an integer"))]
        : throw Bad($"{at}.{field}", "missing or not an array");

    internal static InvalidDataException Bad(string where, string problem) => new($"Model description at {where}: {problem}.");
}
