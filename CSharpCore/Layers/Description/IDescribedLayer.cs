namespace Functional.Layers;

/// <summary>
/// A layer that says what it is as data: its kind and its configuration. With a constructor
/// registered for the kind (<see cref="LayerRegistry"/>), that is enough to save, load and
/// describe it. Built-in layers implement it; so can yours.
/// </summary>
public interface IDescribedLayer : ILayer
{
    /// <summary>The layer's kind, e.g. "dense".</summary>
    string Kind { get; }

    /// <summary>What the constructor registered for <see cref="Kind"/> needs to make this layer
    /// again (weights aside); null when this layer cannot be described.</summary>
    LayerConfig? Config { get; }
}
