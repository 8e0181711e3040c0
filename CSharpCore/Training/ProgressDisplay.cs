using System.Diagnostics;

namespace Functional.Training;

/// <summary>
/// Keras-style progress: an updating bar per epoch on a terminal, a line per epoch elsewhere.
/// </summary>
sealed class ProgressDisplay
{
    readonly TextWriter output;
    readonly bool bar, silent;
    readonly int epochs;
    readonly Stopwatch epochClock = new(), redraw = new();
    long steps, done;

    public ProgressDisplay(FitOptions options, int epochs)
    {
        output = options.Output ?? Console.Out;
        silent = options.Verbosity == Verbosity.Silent;
        bar = options.Verbosity == Verbosity.Bar
              || (options.Verbosity == Verbosity.Auto && options.Output is null && !Console.IsOutputRedirected);
        this.epochs = epochs;
    }

    public void EpochBegin(int epoch, long stepsPerEpoch)
    {
        steps = stepsPerEpoch;
        done = 0;
        epochClock.Restart();
        redraw.Restart();
    }

    public void Step(int epoch, long stepsDone, Func<IEnumerable<(string, double)>> running)
    {
        done = stepsDone;
        if (!bar || silent || (redraw.ElapsedMilliseconds < 100 && done != steps)) return;
        redraw.Restart();
        // A source of unknown length shows the step count without a bar.
        var progress = steps == 0 ? $"{done} steps" : $"[{Bar()}] {done}/{steps}";
        output.Write($"\rEpoch {epoch + 1}/{epochs} {progress} - {epochClock.Elapsed.TotalSeconds:F1}s{Format(running())}   ");
        output.Flush();
    }

    string Bar()
    {
        const int width = 30;
        int filled = (int)(width * Math.Min(done, steps) / steps);
        return new string('=', Math.Max(0, filled - 1)) + (filled > 0 ? (done < steps ? ">" : "=") : "") + new string('.', width - filled);
    }

    public void EpochEnd(int epoch, IReadOnlyDictionary<string, double> logs, StepTimes? times)
    {
        if (silent) return;
        var line = $"Epoch {epoch + 1}/{epochs} - {done} steps - {epochClock.Elapsed.TotalSeconds:F1}s{Format(logs.Select(kv => (kv.Key, kv.Value)))}";
        if (times is not null) line += $" - time: {times}";
        output.WriteLine(bar ? $"\r{line}   " : line);
    }

    public void Message(string text)
    {
        if (!silent) output.WriteLine(text);
    }

    static string Format(IEnumerable<(string Name, double Value)> values) =>
        string.Concat(values.Select(v => $" - {v.Name}: {v.Value:F4}"));
}
