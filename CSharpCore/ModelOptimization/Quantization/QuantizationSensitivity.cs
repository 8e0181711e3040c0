using System.Globalization;
using System.Text;

namespace Functional.ModelOptimization;

/// <summary>One layer quantized alone (<see cref="Quantization.Sensitivity"/>).</summary>
/// <param name="Path">The layer's variables path.</param>
/// <param name="Kind">Its kind ("dense", "conv2d").</param>
/// <param name="Score">The metric with this layer alone quantized.</param>
public sealed record LayerSensitivity(string Path, string Kind, double Score);

/// <summary>
/// What quantizing each layer costs on held-out data (<see cref="Quantization.Sensitivity"/>),
/// worst first when printed; <see cref="Losing"/> lists the layers to keep in float32.
/// </summary>
/// <param name="Metric">The metric compared ("accuracy", "loss").</param>
/// <param name="HigherIsBetter">Whether a higher value of it is better.</param>
/// <param name="Float">The float model's value.</param>
/// <param name="AllQuantized">The value with every layer quantized.</param>
/// <param name="Layers">One entry per layer quantized alone.</param>
public sealed record QuantizationSensitivity(string Metric, bool HigherIsBetter, double Float, double AllQuantized, IReadOnlyList<LayerSensitivity> Layers)
{
    /// <summary>How much worse than the float model a score is (positive: worse).</summary>
    public double Drop(double score) => HigherIsBetter ? Float - score : score - Float;

    /// <summary>The paths of the layers whose quantization alone costs more than
    /// <paramref name="threshold"/> (in the metric's units), for <see cref="QuantizationOptions.Skip"/>.</summary>
    public IReadOnlyList<string> Losing(double threshold) => [.. Layers.Where(l => Drop(l.Score) > threshold).Select(l => l.Path)];

    /// <inheritdoc/>
    public override string ToString()
    {
        int width = Math.Max(5, Layers.Select(l => l.Path.Length).DefaultIfEmpty(0).Max());
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{"layer".PadRight(width)}  {"kind",-8}  {Metric,10}  {"drop",10}\n");
        foreach (var l in Layers.OrderByDescending(l => Drop(l.Score)))
            text.Append(CultureInfo.InvariantCulture, $"{l.Path.PadRight(width)}  {l.Kind,-8}  {l.Score,10:F4}  {Drop(l.Score),10:F4}\n");
        text.Append(CultureInfo.InvariantCulture, $"{"float".PadRight(width)}  {"",-8}  {Float,10:F4}\n");
        text.Append(CultureInfo.InvariantCulture, $"{"all int8".PadRight(width)}  {"",-8}  {AllQuantized,10:F4}  {Drop(AllQuantized),10:F4}\n");
        return text.ToString();
    }
}
