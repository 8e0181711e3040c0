using System.Text;

namespace Functional.Layers;

/// <summary>Keras's summary() table: one row per layer (or graph node), then the totals.</summary>
static class SummaryTable
{
    public static string Format(string model, long[] inputShape,
        IReadOnlyList<(string Layer, long[] OutputShape, long Params)> rows, long trainable, long nonTrainable)
    {
        var cells = rows.Select(r => (r.Layer, Shape: ShapeException.FormatBatch(r.OutputShape), r.Params)).ToList();
        int w1 = Math.Max(20, cells.Max(r => r.Layer.Length) + 2), w2 = Math.Max(16, cells.Max(r => r.Shape.Length) + 2);
        var rule = new string('─', w1 + w2 + 12);
        var text = new StringBuilder();
        text.AppendLine($"Model: {model}, input {ShapeException.FormatBatch(inputShape)}").AppendLine(rule);
        text.AppendLine($"{"Layer (type)".PadRight(w1)}{"Output shape".PadRight(w2)}{"Params",12}").AppendLine(rule);
        foreach (var (layer, shape, count) in cells) text.AppendLine($"{layer.PadRight(w1)}{shape.PadRight(w2)}{count,12:N0}");
        text.AppendLine(rule);
        text.AppendLine($"Total params: {trainable + nonTrainable:N0}");
        text.AppendLine($"Trainable params: {trainable:N0}");
        text.AppendLine($"Non-trainable params: {nonTrainable:N0}");
        return text.ToString();
    }

    public static string KindOf(ILayer layer) => layer is Layer l ? l.Kind : layer.GetType().Name;
}
