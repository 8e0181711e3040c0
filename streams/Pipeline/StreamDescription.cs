using System.Text;

namespace Functional.Streams;

/// <summary>
/// What <see cref="DataStream{T}.Describe"/> reports: the element type, the first element as
/// text (for tables, each column's type), and each stage's counters in the latest run.
/// </summary>
public sealed record StreamDescription(string ElementType, string? FirstElement, IReadOnlyList<StageSnapshot> Stages, bool HasRun)
{
    /// <summary>The description, a line per stage.</summary>
    public override string ToString()
    {
        var text = new StringBuilder($"DataStream<{ElementType}>\n");
        text.Append("first element: ").Append(FirstElement ?? "(none: the stream is empty)").Append('\n');
        text.Append(HasRun ? "stages in the latest run, source first:\n" : "stages (not run yet), source first:\n");
        foreach (var stage in Stages) text.Append("  ").Append(stage).Append('\n');
        return text.ToString();
    }
}
