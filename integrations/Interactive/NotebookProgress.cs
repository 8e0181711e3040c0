using Functional.Training;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Formatting;

namespace Functional.Interactive;

/// <summary>
/// Fit's progress in a notebook cell: a bar per epoch that updates in place, and stays as the
/// epoch's summary line when it ends. Give it to <see cref="FitOptions.Progress"/> (and set
/// <see cref="FitOptions.Verbosity"/> to Silent to keep the text lines out of the cell).
/// </summary>
/// <example><c>model.Fit(x, y, new FitOptions { Epochs = 5, Progress = new NotebookProgress(), Verbosity = Verbosity.Silent })</c></example>
public sealed class NotebookProgress : IProgress<TrainingProgress>
{
    DisplayedValue? shown;
    int epoch = -1;

    /// <inheritdoc/>
    public void Report(TrainingProgress value)
    {
        ArgumentNullException.ThrowIfNull(value);
        NotebookFormatters.Register();
        if (KernelInvocationContext.Current is not { } context) return;
        if (shown is null || value.Epoch != epoch)
        {
            (shown, epoch) = (context.Display(value, "text/html"), value.Epoch);
            return;
        }
        shown.Update(value);
    }
}
