using System.Collections;
using System.Text.Json.Nodes;

namespace Functional.Layers;

/// <summary>
/// A layer's configuration as data (Keras's <c>get_config</c>): what its constructor needs to
/// make the same layer again, weights aside. Written with a collection initializer
/// (<c>new LayerConfig { { "units", Units }, { "activation", Activation } }</c>) and read back with
/// typed getters whose errors give the JSON path of the field, so a damaged description names
/// what is wrong and where.
/// </summary>
public sealed class LayerConfig : IEnumerable<KeyValuePair<string, JsonNode?>>
{
    readonly JsonObject json;
    readonly string at;

    /// <summary>An empty configuration, to fill with <c>Add</c>.</summary>
    public LayerConfig() : this(new JsonObject(), "$.config") { }

    internal LayerConfig(JsonObject json, string at)
    {
        this.json = json;
        this.at = at;
    }

    /// <summary>The configuration as JSON (owned by this object).</summary>
    public JsonObject Json => json;

    /// <summary>Where this configuration sits in the description being read, e.g. "$.network.config".</summary>
    public string Path => at;

    /// <summary>Whether <paramref name="key"/> is present.</summary>
    public bool Has(string key) => json.ContainsKey(key);

    /// <summary>Adds an integer.</summary>
    public void Add(string key, long value) => json[key] = value;
    /// <summary>Adds a number.</summary>
    public void Add(string key, double value) => json[key] = value;
    /// <summary>Adds a flag.</summary>
    public void Add(string key, bool value) => json[key] = value;
    /// <summary>Adds a string.</summary>
    public void Add(string key, string value) => json[key] = value;
    /// <summary>Adds a list of integers.</summary>
    public void Add(string key, IEnumerable<long> values) => json[key] = new JsonArray([.. values.Select(v => (JsonNode)v)]);
    /// <summary>Adds a list of numbers.</summary>
    public void Add(string key, IEnumerable<double> values) => json[key] = new JsonArray([.. values.Select(v => (JsonNode)v)]);
    /// <summary>Adds an activation by its name.</summary>
    public void Add(string key, ActivationFunction value) => json[key] = value.Name;
    /// <summary>Adds an enumeration value by its name.</summary>
    public void Add<TEnum>(string key, TEnum value) where TEnum : struct, Enum => json[key] = value.ToString();
    /// <summary>Adds a nested layer's whole description (kind, name and configuration).</summary>
    public void Add(string key, ILayer layer) => json[key] = LayerRegistry.ToJson(layer);
    /// <summary>Adds nested layers' descriptions, in order.</summary>
    public void Add(string key, IEnumerable<ILayer> layers) => json[key] = new JsonArray([.. layers.Select(l => (JsonNode)LayerRegistry.ToJson(l))]);
    /// <summary>Adds any JSON value (a copy of it).</summary>
    public void Add(string key, JsonNode? value) => json[key] = value?.DeepClone();

    /// <summary>An integer.</summary>
    public long Long(string key) =>
        json[key] is JsonValue v && v.TryGetValue<long>(out var n) ? n : throw Bad(key, "missing or not an integer");

    /// <summary>An integer, or <paramref name="fallback"/> when absent (fields added in later versions).</summary>
    public long Long(string key, long fallback) => Has(key) ? Long(key) : fallback;

    /// <summary>A number.</summary>
    public double Double(string key) =>
        json[key] is JsonValue v && v.TryGetValue<double>(out var n) ? n : throw Bad(key, "missing or not a number");

    /// <summary>A number, or <paramref name="fallback"/> when absent.</summary>
    public double Double(string key, double fallback) => Has(key) ? Double(key) : fallback;

    /// <summary>A flag.</summary>
    public bool Bool(string key) =>
        json[key] is JsonValue v && v.TryGetValue<bool>(out var b) ? b : throw Bad(key, "missing or not true/false");

    /// <summary>A flag, or <paramref name="fallback"/> when absent.</summary>
    public bool Bool(string key, bool fallback) => Has(key) ? Bool(key) : fallback;

    /// <summary>A string.</summary>
    public string Text(string key) =>
        json[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw Bad(key, "missing or not a string");

    /// <summary>A list of integers.</summary>
    public long[] Longs(string key) =>
        json[key] is JsonArray a
            ? [.. a.Select((n, i) => n is JsonValue v && v.TryGetValue<long>(out var x) ? x : throw Bad($"{key}[{i}]", "not an integer"))]
            : throw Bad(key, "missing or not an array");

    /// <summary>A list of numbers.</summary>
    public double[] Doubles(string key) =>
        json[key] is JsonArray a
            ? [.. a.Select((n, i) => n is JsonValue v && v.TryGetValue<double>(out var x) ? x : throw Bad($"{key}[{i}]", "not a number"))]
            : throw Bad(key, "missing or not an array");

    /// <summary>A built-in activation by name.</summary>
    public ActivationFunction Activation(string key)
    {
        var name = Text(key);
        return ActivationFunction.BuiltIn.TryGetValue(name, out var f) ? f
            : throw Bad(key, $"unknown activation '{name}' (built in: {string.Join(", ", ActivationFunction.BuiltIn.Keys)})");
    }

    /// <summary>An enumeration value by its name.</summary>
    public TEnum Enum<TEnum>(string key) where TEnum : struct, Enum =>
        System.Enum.TryParse<TEnum>(Text(key), ignoreCase: false, out var value) && System.Enum.IsDefined(value) ? value
        : throw Bad(key, $"'{json[key]}' is not one of {string.Join(", ", System.Enum.GetNames<TEnum>())}");

    /// <summary>A nested layer, rebuilt from its description.</summary>
    public ILayer Layer(string key) => LayerRegistry.FromJson(json[key], $"{at}.{key}");

    /// <summary>Nested layers, rebuilt in order.</summary>
    public IReadOnlyList<ILayer> Layers(string key) =>
        json[key] is JsonArray a ? [.. a.Select((l, i) => LayerRegistry.FromJson(l, $"{at}.{key}[{i}]"))]
        : throw Bad(key, "missing or not an array");

    /// <summary>A nested object, as a configuration of its own (for structured fields).</summary>
    public LayerConfig Object(string key) =>
        json[key] is JsonObject o ? new LayerConfig(o, $"{at}.{key}") : throw Bad(key, "missing or not an object");

    /// <summary>A nested array of values, as raw JSON.</summary>
    public JsonArray Array(string key) => json[key] as JsonArray ?? throw Bad(key, "missing or not an array");

    /// <summary>An <see cref="InvalidDataException"/> for field <paramref name="key"/>, giving its JSON path.</summary>
    public InvalidDataException Bad(string key, string problem) => LayerRegistry.Bad($"{at}.{key}", problem);

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, JsonNode?>> GetEnumerator() => json.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
