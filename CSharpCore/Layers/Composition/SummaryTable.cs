using System.Text;
using Functional.Trees;
using TorchSharp;

namespace Functional.Layers;

/// <summary>Keras's summary() table: one row per input, layer call and merge of the network's
/// walk, then the totals.</summary>
static class SummaryTable
{
    /// <summary>The table for a network with fresh variables (seed 0, freed afterwards).</summary>
    public static string Of(ILayer network, IReadOnlyList<long[]> inputShapes)
    {
        using var scope = torch.NewDisposeScope();
        using var rng = new torch.Generator(0);
        var variables = network is FunctionalModel f ? f.Init(rng) : network.Init(rng, inputShapes[0]);
        return Of(network, inputShapes, variables);
    }

    /// <summary>The table for a network with the given variables; parameters under
    /// <paramref name="frozen"/> paths count as non-trainable.</summary>
    public static string Of(ILayer network, IReadOnlyList<long[]> inputShapes, Variables variables, Func<string, bool>? frozen = null)
    {
        var rows = new List<(string, long[], long)>();
        if (network is FunctionalModel f) rows.AddRange(f.Inputs.Select(i => (i.Node.Describe(), i.Shape, 0L)));
        NetworkWalk.VisitAll(network, new Rows(rows, variables), [.. inputShapes], inputShapes);
        long held = frozen is null ? 0 : variables.Params.Filter((path, _) => frozen(path)).ScalarCount;
        return Format(network.Name, inputShapes[0], rows, variables.Params.ScalarCount - held, variables.State.ScalarCount + held);
    }

    /// <summary>Each layer call's row: its path and kind, output shape, and parameters (counted at
    /// a shared layer's first call). The values flowing along the walk are the shapes.</summary>
    sealed class Rows(List<(string, long[], long)> rows, Variables variables) : ILayerVisitor<long[]>
    {
        // A layer's variables sit under its path, so a path seen before is a shared layer's later call.
        readonly HashSet<string> seen = new(StringComparer.Ordinal);

        public long[] Layer(ILayer layer, long[] input, long[] inputShape, string path)
        {
            var output = layer.OutputShape(inputShape);
            var label = $"{NetworkWalk.Label(layer, path)} ({LayerRegistry.KindOf(layer)})";
            if (seen.Add(path))
                rows.Add((label, output, path.Length == 0 ? variables.Params.ScalarCount : variables.Params.Select(path).ScalarCount));
            else rows.Add((label + ", shared", output, 0));
            return output;
        }

        public long[] Merge(string kind, int axis, IReadOnlyList<long[]> parts, IReadOnlyList<long[]> shapes, string path)
        {
            var output = kind == "concatenate"
                ? shapes[0].Select((d, i) => i == axis ? shapes.Sum(s => s[i]) : d).ToArray()
                : shapes[0];
            rows.Add((path, output, 0));
            return output;
        }
    }

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
}
