using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json.Nodes;

namespace Functional.Layers;

/// <summary>
/// Maps layer kinds to constructors, for the built-in layers (found by their
/// <see cref="LayerKindAttribute"/>) and for layers users register. A description is
/// <c>{"type": kind, "name": ..., "config": {...}}</c>: saving, loading and summaries read it
/// from here, not from lists of layer types.
/// </summary>
public static class LayerRegistry
{
    /// <summary>A registered kind: made by <paramref name="FromConfig"/>; <paramref name="Type"/> is
    /// the one class of its layers, or null for a kind whose layers say it themselves
    /// (<see cref="IDescribedLayer.Kind"/>), e.g. many kinds sharing one class defined from F# functions.</summary>
    sealed record Entry(string Kind, Type? Type, Func<ILayer, LayerConfig?> ToConfig, Func<LayerConfig, string?, ILayer> FromConfig);

    static readonly ConcurrentDictionary<string, Entry> ByKind = new(StringComparer.Ordinal);
    static readonly ConcurrentDictionary<Type, Entry> ByType = new();

    static LayerRegistry()
    {
        foreach (var type in typeof(LayerRegistry).Assembly.GetTypes())
            if (type.GetCustomAttribute<LayerKindAttribute>() is { } kind) Add(BuiltIn(type, kind.Kind));
    }

    static Entry BuiltIn(Type type, string kind)
    {
        var method = type.GetMethod("FromConfig", BindingFlags.Public | BindingFlags.Static, [typeof(LayerConfig), typeof(string)])
            ?? throw new InvalidOperationException($"Layer type {type.Name} ('{kind}') has no public static FromConfig(LayerConfig, string?).");
        var fromConfig = method.CreateDelegate<Func<LayerConfig, string?, ILayer>>();
        return new Entry(kind, type, layer => ((IDescribedLayer)layer).Config, fromConfig);
    }

    static void Add(Entry entry)
    {
        if (ByKind.TryGetValue(entry.Kind, out var existing) && existing.Type != entry.Type)
            throw new ArgumentException(
                $"Layer kind '{entry.Kind}' is already registered for {existing.Type?.Name ?? "layers that name their kind"}.", nameof(entry));
        ByKind[entry.Kind] = entry;
        if (entry.Type is not null) ByType[entry.Type] = entry;
    }

    /// <summary>The registered kinds, built-in and registered.</summary>
    public static IReadOnlyCollection<string> Kinds => [.. ByKind.Keys.Order(StringComparer.Ordinal)];

    /// <summary>Registers <typeparamref name="TLayer"/>, which describes itself
    /// (<see cref="IDescribedLayer"/>), under <paramref name="kind"/>.</summary>
    /// <exception cref="ArgumentException">The kind is taken by another type.</exception>
    public static void Register<TLayer>(string kind, Func<LayerConfig, string?, TLayer> fromConfig) where TLayer : IDescribedLayer
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentNullException.ThrowIfNull(fromConfig);
        Add(new Entry(kind, typeof(TLayer), layer => ((IDescribedLayer)layer).Config, (c, n) => fromConfig(c, n)));
    }

    /// <summary>Registers a layer type that does not describe itself: <paramref name="toConfig"/>
    /// writes its configuration, <paramref name="fromConfig"/> rebuilds it from that and its name.</summary>
    /// <exception cref="ArgumentException">The kind is taken by another type.</exception>
    public static void Register<TLayer>(string kind, Func<TLayer, LayerConfig> toConfig, Func<LayerConfig, string?, TLayer> fromConfig) where TLayer : ILayer
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentNullException.ThrowIfNull(toConfig);
        ArgumentNullException.ThrowIfNull(fromConfig);
        Add(new Entry(kind, typeof(TLayer), layer => toConfig((TLayer)layer), (c, n) => fromConfig(c, n)));
    }

    /// <summary>Registers a kind by name alone: any <see cref="IDescribedLayer"/> whose
    /// <see cref="IDescribedLayer.Kind"/> is <paramref name="kind"/> is saved with its
    /// <see cref="IDescribedLayer.Config"/> and rebuilt by <paramref name="fromConfig"/> (for
    /// layers of one class that carry their kind, such as F#'s <c>Layer.define</c>). Registering
    /// a kind again replaces its constructor.</summary>
    /// <exception cref="ArgumentException">The kind is taken by a layer type.</exception>
    public static void Register(string kind, Func<LayerConfig, string?, IDescribedLayer> fromConfig)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentNullException.ThrowIfNull(fromConfig);
        Add(new Entry(kind, null, layer => ((IDescribedLayer)layer).Config, (c, n) => fromConfig(c, n)));
    }

    /// <summary>Whether <paramref name="layer"/> can be described (its type is registered and it
    /// gives a configuration), checked through nested layers when they are described.</summary>
    public static bool CanDescribe(ILayer layer)
    {
        try { ToJson(layer); return true; }
        catch (NotSupportedException) { return false; }
    }

    /// <summary>The layer's description.</summary>
    /// <exception cref="NotSupportedException">The layer's type is not registered, or it cannot
    /// describe itself (the message names it).</exception>
    public static JsonObject ToJson(ILayer layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var entry = ByType.TryGetValue(layer.GetType(), out var byType) ? byType
            : layer is IDescribedLayer d && ByKind.TryGetValue(d.Kind, out var byKind) && byKind.Type is null ? byKind : null;
        var config = entry?.ToConfig(layer);
        if (entry is null || config is null)
            throw new NotSupportedException(
                $"Layer '{layer.Name}' ({layer.GetType().Name}) cannot be saved: give it a kind and a configuration and register it with LayerRegistry.Register.");
        var json = new JsonObject { ["type"] = entry.Kind, ["name"] = layer.Name, ["config"] = config.Json.DeepClone() };
        if (layer is Layer { Precision: { } policy }) json["dtype"] = policy.Name;
        return json;
    }

    /// <summary>Rebuilds a layer from its description; <paramref name="where"/> is its JSON path, for errors.</summary>
    /// <exception cref="InvalidDataException">An unknown kind, a missing or malformed field, or a
    /// configuration the constructor rejects (the message gives the JSON path).</exception>
    public static ILayer FromJson(JsonNode? node, string where = "$")
    {
        var o = node as JsonObject ?? throw Bad(where, "a layer must be a JSON object");
        var type = o["type"] is JsonValue t && t.TryGetValue<string>(out var s) ? s : throw Bad($"{where}.type", "missing or not a string");
        string? name = o["name"] is null ? null
            : o["name"] is JsonValue n && n.TryGetValue<string>(out var named) ? named : throw Bad($"{where}.name", "not a string");
        var at = $"{where}.config";
        var config = new LayerConfig(o["config"] as JsonObject ?? throw Bad(at, "missing or not an object"), at);
        if (!ByKind.TryGetValue(type, out var entry))
            throw Bad($"{where}.type", $"unknown layer type '{type}' (register custom layers with LayerRegistry.Register)");
        PrecisionPolicy? precision = null;
        if (o["dtype"] is { } dtype)
        {
            var policyName = dtype is JsonValue pv && pv.TryGetValue<string>(out var p) ? p : throw Bad($"{where}.dtype", "not a string");
            precision = PrecisionPolicy.All.FirstOrDefault(x => x.Name == policyName)
                ?? throw Bad($"{where}.dtype", $"unknown precision policy '{policyName}' (known: {string.Join(", ", PrecisionPolicy.All.Select(x => x.Name))})");
        }
        try
        {
            var layer = entry.FromConfig(config, name);
            if (precision is null) return layer;
            return layer is Layer own ? own.CopyWithPrecision(precision)
                : throw Bad($"{where}.dtype", $"layer type '{type}' takes no precision policy of its own");
        }
        catch (Exception e) when (e is ArgumentException and not ShapeException)
        {
            throw Bad(at, $"invalid configuration for '{type}': {e.Message}");
        }
    }

    /// <summary>The kind <paramref name="type"/> is registered under, or null.</summary>
    internal static string? KindOfType(Type type) => ByType.TryGetValue(type, out var entry) ? entry.Kind : null;

    /// <summary>The kind a layer is described by, or its type name when it is not registered.</summary>
    public static string KindOf(ILayer layer) =>
        layer is IDescribedLayer d ? d.Kind : ByType.TryGetValue(layer.GetType(), out var e) ? e.Kind : layer.GetType().Name;

    internal static InvalidDataException Bad(string where, string problem) => new($"Model description at {where}: {problem}.");
}
