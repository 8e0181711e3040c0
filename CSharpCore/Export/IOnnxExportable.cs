using Functional.Layers;

namespace Functional.Export;

/// <summary>A layer that lowers itself to ONNX operators: built-in layers implement it next to
/// their forward pass, and so can yours.</summary>
public interface IOnnxExportable
{
    /// <summary>Adds the nodes computing this layer (in inference mode) on the value
    /// <paramref name="input"/> of per-example shape <paramref name="inputShape"/> (the batch
    /// dimension is dynamic) with this layer's own <paramref name="variables"/>; the output's name.</summary>
    string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables);
}
