using System.Diagnostics;
using System.Globalization;

namespace Functional.Training;

/// <summary>
/// Keras-style progress: on a terminal an updating bar per epoch with the time left and the
/// time per step ("63/469 [===>......] - ETA: 5s - 8ms/step - loss: 0.4512"); elsewhere (CI,
/// files) a line per epoch, and during an epoch longer than half a minute a line every 30 s.
/// <see cref="FitOptions.Progress"/> receives the same as <see cref="TrainingProgress"/> values.
/// </summary>
sealed class ProgressDisplay
{
    static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(30), ReportInterval = TimeSpan.FromMilliseconds(250);
    readonly TextWriter output;
    readonly bool bar, silent;
    readonly int epochs;
    readonly IProgress<TrainingProgress>? sink;
    readonly Stopwatch epochClock = new(), redraw = new(), logged = new(), reported = new();
    long steps, done;
    TimeSpan? trained;

    public ProgressDisplay(FitOptions options, int epochs)
    {
        output = options.Output ?? Console.Out;
        silent = options.Verbosity == Verbosity.Silent;
        bar = options.Verbosity == Verbosity.Bar
              || (options.Verbosity == Verbosity.Auto && options.Output is null && !Console.IsOutputRedirected);
        sink = options.Progress;
        this.epochs = epochs;
    }

    /// <summary>The epoch's training ended (validation comes next): its time per step is final.</summary>
    public void TrainingDone() => trained = epochClock.Elapsed;

    public void EpochBegin(int epoch, long stepsPerEpoch)
    {
        steps = stepsPerEpoch;
        done = 0;
        trained = null;
        epochClock.Restart();
        redraw.Restart();
        logged.Restart();
        reported.Restart();
    }

    public void Step(int epoch, long stepsDone, Func<IEnumerable<(string, double)>> running)
    {
        done = stepsDone;
        bool last = done == steps;
        if (sink is not null && (reported.Elapsed >= ReportInterval || last))
        {
            reported.Restart();
            sink.Report(Progress(epoch, running(), ended: false));
        }
        if (silent) return;
        if (bar)
        {
            if (redraw.ElapsedMilliseconds < 100 && !last) return;
            redraw.Restart();
            var counter = steps == 0 ? $"{done} steps" : $"{done}/{steps} [{Bar()}]";
            output.Write($"\rEpoch {epoch + 1}/{epochs} {counter} - {Timing()}{Format(running())}   ");
            output.Flush();
        }
        else if (logged.Elapsed >= LogInterval && !last)
        {
            logged.Restart();
            output.WriteLine($"Epoch {epoch + 1}/{epochs} - {(steps == 0 ? $"{done} steps" : $"{done}/{steps}")} - {Timing()}{Format(running())}");
        }
    }

    TrainingProgress Progress(int epoch, IEnumerable<(string Name, double Value)> logs, bool ended) =>
        new(epoch, epochs, done, steps == 0 ? null : steps, epochClock.Elapsed, ended ? TimeSpan.Zero : Remaining(), PerStep(),
            logs.ToDictionary(l => l.Name, l => l.Value, StringComparer.Ordinal), ended);

    TimeSpan PerStep() => done == 0 ? TimeSpan.Zero : (trained ?? epochClock.Elapsed) / done;

    TimeSpan? Remaining() => steps == 0 || done == 0 ? null : PerStep() * Math.Max(0, steps - done);

    /// <summary>"ETA: 5s - 8ms/step" while the end is known and ahead, "1.2s - 8ms/step" otherwise.</summary>
    string Timing() =>
        (done < steps && Remaining() is { } left ? $"ETA: {Clock(left)}" : Seconds(epochClock.Elapsed)) + $" - {PerStepText(PerStep())}";

    string Bar()
    {
        const int width = 30;
        int filled = (int)(width * Math.Min(done, steps) / steps);
        return new string('=', Math.Max(0, filled - 1)) + (filled > 0 ? (done < steps ? ">" : "=") : "") + new string('.', width - filled);
    }

    public void EpochEnd(int epoch, IReadOnlyDictionary<string, double> logs, StepTimes? times)
    {
        sink?.Report(Progress(epoch, logs.Select(kv => (kv.Key, kv.Value)), ended: true));
        if (silent) return;
        var line = $"Epoch {epoch + 1}/{epochs} - {done} steps - {Seconds(epochClock.Elapsed)} - {PerStepText(PerStep())}{Format(logs.Select(kv => (kv.Key, kv.Value)))}";
        if (times is not null) line += $" - time: {times}";
        output.WriteLine(bar ? $"\r{line}   " : line);
    }

    public void Message(string text)
    {
        if (!silent) output.WriteLine(text);
    }

    static string Format(IEnumerable<(string Name, double Value)> values) =>
        string.Concat(values.Select(v => $" - {v.Name}: {v.Value.ToString("F4", CultureInfo.InvariantCulture)}"));

    /// <summary>Keras's time per step: "150us/step", "8ms/step", "2.1s/step".</summary>
    internal static string PerStepText(TimeSpan perStep) =>
        perStep.TotalMilliseconds < 1 ? string.Create(CultureInfo.InvariantCulture, $"{perStep.TotalMicroseconds:F0}us/step")
        : perStep.TotalSeconds < 1 ? string.Create(CultureInfo.InvariantCulture, $"{perStep.TotalMilliseconds:F0}ms/step")
        : string.Create(CultureInfo.InvariantCulture, $"{perStep.TotalSeconds:F1}s/step");

    /// <summary>"1.2s".</summary>
    internal static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:F1}s");

    /// <summary>"5s", "1:05", "1:02:03", whole seconds rounded up.</summary>
    internal static string Clock(TimeSpan time)
    {
        var t = TimeSpan.FromSeconds(Math.Ceiling(time.TotalSeconds));
        return t.TotalSeconds < 60 ? $"{t.TotalSeconds:F0}s"
            : t.TotalHours < 1 ? $"{(int)t.TotalMinutes}:{t.Seconds:D2}"
            : $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}";
    }
}

/// <summary>Where an epoch of Fit stands (see <see cref="FitOptions.Progress"/>).</summary>
/// <param name="Epoch">The epoch (0-based).</param>
/// <param name="Epochs">The epoch Fit stops before.</param>
/// <param name="Step">Steps done in this epoch.</param>
/// <param name="StepsPerEpoch">Steps in an epoch, when known (in-memory data).</param>
/// <param name="Elapsed">Time since the epoch began.</param>
/// <param name="Remaining">The estimated time left in the epoch (the mean step so far times the
/// steps left), when the steps are known.</param>
/// <param name="TimePerStep">The mean training step so far (validation not included).</param>
/// <param name="Logs">The running loss and metrics; at the epoch's end its logs, validation included.</param>
/// <param name="EpochEnded">Whether this is the epoch's final report.</param>
public sealed record TrainingProgress(int Epoch, int Epochs, long Step, long? StepsPerEpoch, TimeSpan Elapsed, TimeSpan? Remaining,
    TimeSpan TimePerStep, IReadOnlyDictionary<string, double> Logs, bool EpochEnded)
{
    /// <summary>Done share of the epoch in [0, 1], when the steps are known.</summary>
    public double? Fraction => StepsPerEpoch is { } n && n > 0 ? Math.Min(1, (double)Step / n) : null;

    /// <summary>"Epoch 2/10 - 63/469 - ETA: 5s - 8ms/step - loss: 0.4512".</summary>
    public override string ToString()
    {
        var counter = StepsPerEpoch is { } n ? $"{Step}/{n}" : $"{Step} steps";
        var timing = !EpochEnded && Remaining is { } left ? $"ETA: {ProgressDisplay.Clock(left)}" : ProgressDisplay.Seconds(Elapsed);
        return $"Epoch {Epoch + 1}/{Epochs} - {counter} - {timing} - {ProgressDisplay.PerStepText(TimePerStep)}" +
               string.Concat(Logs.Select(kv => $" - {kv.Key}: {kv.Value.ToString("F4", CultureInfo.InvariantCulture)}"));
    }
}
