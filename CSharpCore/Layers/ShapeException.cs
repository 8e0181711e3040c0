namespace Functional.Layers;

/// <summary>
/// A layer was given an input whose shape or dtype it cannot take. Raised before libtorch is
/// reached; the message names the layer, what it expected and what it received.
/// </summary>
public sealed class ShapeException(string message) : ArgumentException(message)
{
    internal static string Format(IEnumerable<long> shape) => "(" + string.Join(", ", shape) + ")";

    internal static string FormatBatch(IEnumerable<long> perExample) => "(batch, " + string.Join(", ", perExample) + ")";
}
