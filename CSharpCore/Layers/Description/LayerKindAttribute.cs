namespace Functional.Layers;

/// <summary>
/// Marks a built-in layer type with the kind its descriptions are saved under. The type must
/// also have <c>public static TLayer FromConfig(LayerConfig config, string? name)</c>; the
/// <see cref="LayerRegistry"/> finds both, so a new built-in layer is one file.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class LayerKindAttribute(string kind) : Attribute
{
    /// <summary>The kind, e.g. "dense".</summary>
    public string Kind { get; } = kind;
}
