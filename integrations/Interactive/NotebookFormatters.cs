using System.Globalization;
using System.Net;
using Functional.Plots;
using Functional.Profiling;
using Functional.Training;
using Microsoft.DotNet.Interactive.Formatting;
using Plotly.NET;

namespace Functional.Interactive;

/// <summary>
/// How Functional's values look in Polyglot Notebooks (.NET Interactive): a model as its
/// summary table, a History as its curves and a table of its epochs, a confusion matrix as a
/// heatmap, a profile report and its verdict as text, progress as a bar, a data stream as its
/// stages and first elements, and any Plotly.NET
/// chart as itself. Referencing the package loads them (it is a kernel extension); after
/// <c>#r "Functional.Interactive.dll"</c> of a local build, call <see cref="Register"/>.
/// </summary>
public static class NotebookFormatters
{
    static bool registered;

    /// <summary>Registers the formatters (once; later calls do nothing).</summary>
    public static void Register()
    {
        if (registered) return;
        registered = true;
        Formatter.Register<Model>((model, writer) => writer.Write(Pre(model.Summary())), HtmlFormatter.MimeType);
        Formatter.Register<History>((history, writer) => writer.Write(Html(history)), HtmlFormatter.MimeType);
        Formatter.Register<ConfusionMatrix>((matrix, writer) => writer.Write(Chart(matrix.Plot())), HtmlFormatter.MimeType);
        Formatter.Register<ProfileReport>((report, writer) => writer.Write(Pre(report.ToString())), HtmlFormatter.MimeType);
        Formatter.Register<TrainingProgress>((progress, writer) => writer.Write(Html(progress)), HtmlFormatter.MimeType);
        Formatter.Register<GenericChart>((chart, writer) => writer.Write(Chart(chart)), HtmlFormatter.MimeType);
        // A stream shows its stages and first elements (it is an IObservable, which notebooks would subscribe to).
        Formatter.Register(typeof(Functional.Streams.DataStream<>), (stream, writer) => writer.Write(Pre(stream.ToString() ?? "")), HtmlFormatter.MimeType);
        Formatter.Register<Functional.Streams.StreamDescription>((description, writer) => writer.Write(Pre(description.ToString())), HtmlFormatter.MimeType);
    }

    static string Pre(string text) => $"<pre>{WebUtility.HtmlEncode(text)}</pre>";

    static string Chart(GenericChart chart) => GenericChart.toChartHTML(chart);

    /// <summary>The curves, then a row per epoch.</summary>
    internal static string Html(History history)
    {
        if (history.Epochs == 0) return "<p>History: no epochs.</p>";
        var names = history.Names.ToList();
        var rows = string.Concat(Enumerable.Range(0, history.Epochs).Select(e =>
            $"<tr><td>{e + 1}</td>{string.Concat(names.Select(n => $"<td>{history[n][e].ToString("F4", CultureInfo.InvariantCulture)}</td>"))}</tr>"));
        var table = $"<table><thead><tr><th>epoch</th>{string.Concat(names.Select(n => $"<th>{WebUtility.HtmlEncode(n)}</th>"))}</tr></thead><tbody>{rows}</tbody></table>";
        var stopped = history.StopReason is { } reason ? $"<p>Stopped: {WebUtility.HtmlEncode(reason)}</p>" : "";
        return Chart(history.Plot()) + table + stopped;
    }

    /// <summary>A bar with Keras's line beside it.</summary>
    internal static string Html(TrainingProgress progress)
    {
        var bar = progress.Fraction is { } f
            ? $"<progress value=\"{f.ToString("F3", CultureInfo.InvariantCulture)}\" max=\"1\" style=\"width: 16em\"></progress> "
            : "";
        return $"<div>{bar}<code>{WebUtility.HtmlEncode(progress.ToString())}</code></div>";
    }
}
