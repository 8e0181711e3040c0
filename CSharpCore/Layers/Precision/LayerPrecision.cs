namespace Functional.Layers;

/// <summary>Per-layer precision policies.</summary>
public static class LayerPrecision
{
    /// <summary>A copy of <paramref name="layer"/> that computes under <paramref name="policy"/>
    /// whatever the model's policy (Keras's <c>Dense(10, dtype="float32")</c>), e.g. a float32
    /// output layer in a mixed model; null follows the model again. Saved with the model.</summary>
    public static TLayer WithPrecision<TLayer>(this TLayer layer, PrecisionPolicy? policy) where TLayer : Layer
    {
        ArgumentNullException.ThrowIfNull(layer);
        return (TLayer)layer.CopyWithPrecision(policy);
    }
}
