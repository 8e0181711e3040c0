namespace Functional.Layers;

/// <summary>
/// A layer was given an input whose shape it cannot take, or a shape that is not valid at all
/// (a negative or zero dimension). Raised before libtorch is reached; the message names the
/// layer, what it expected and what it received.
/// </summary>
public sealed class ShapeException(string message) : ArgumentException(message)
{
    internal static string Format(IEnumerable<long> shape) => "(" + string.Join(", ", shape) + ")";

    internal static string FormatBatch(IEnumerable<long> perExample) => "(batch, " + string.Join(", ", perExample) + ")";

    /// <summary>Throws unless <paramref name="perExample"/> is a valid per-example shape: every
    /// dimension positive. <paramref name="who"/> starts the message (e.g. "Layer 'dense' (dense)").</summary>
    public static void RequireValid(long[] perExample, string who)
    {
        ArgumentNullException.ThrowIfNull(perExample);
        if (perExample.Any(d => d <= 0))
            throw new ShapeException($"{who} was given the shape {FormatBatch(perExample)}: every dimension must be positive.");
    }
}
