using System.Diagnostics;

namespace Functional.Training;

/// <summary>
/// Where one epoch's training time went: waiting for input, the forward pass, the backward
/// pass, the optimizer, callbacks (with the progress display), and the driver's own bookkeeping
/// (metrics, the state hand-over). The profile to look at when training is slow: a large input
/// share means the data pipeline cannot keep up.
/// </summary>
/// <param name="InputWait">Time spent waiting for the next batch.</param>
/// <param name="Forward">The model and the loss.</param>
/// <param name="Backward">The gradients.</param>
/// <param name="Optimizer">The update, applied in place.</param>
/// <param name="Callbacks">Callbacks and progress.</param>
/// <param name="Other">Metrics and bookkeeping.</param>
/// <param name="Steps">Steps in the epoch.</param>
/// <param name="Communication">Data-parallel training: the all-reduce of the gradients (and of
/// the step's loss) between ranks, waiting for the slowest rank included; zero in one process.</param>
public sealed record StepTimes(
    TimeSpan InputWait, TimeSpan Forward, TimeSpan Backward, TimeSpan Optimizer, TimeSpan Callbacks, TimeSpan Other, long Steps,
    TimeSpan Communication = default)
{
    /// <summary>All of it.</summary>
    public TimeSpan Total => InputWait + Forward + Backward + Communication + Optimizer + Callbacks + Other;

    /// <summary>Share of the epoch spent communicating between ranks, in [0, 1].</summary>
    public double CommunicationShare => Total > TimeSpan.Zero ? Communication / Total : 0;

    /// <summary>Share of the epoch spent waiting for input, in [0, 1].</summary>
    public double InputWaitShare => Total > TimeSpan.Zero ? InputWait / Total : 0;

    /// <summary>"input 2% - forward 30% - backward 51% - optimizer 12% - callbacks 1% - other 4%"
    /// (with "communication N% - " before the optimizer in data-parallel training).</summary>
    public override string ToString()
    {
        string Share(TimeSpan part) => Total > TimeSpan.Zero ? $"{100 * (part / Total):F0}%" : "0%";
        string communication = Communication > TimeSpan.Zero ? $"communication {Share(Communication)} - " : "";
        return $"input {Share(InputWait)} - forward {Share(Forward)} - backward {Share(Backward)} - {communication}optimizer {Share(Optimizer)} - " +
               $"callbacks {Share(Callbacks)} - other {Share(Other)}";
    }
}

/// <summary>Accumulates <see cref="StepTimes"/> from timestamps taken along one epoch, and
/// hands each phase to the profiler's recorder when the step is recorded.</summary>
sealed class StepClock
{
    long input, forward, backward, communication, optimizer, callbacks, other, steps, last = Stopwatch.GetTimestamp();

    /// <summary>The recorder of the step running now, or null.</summary>
    public IStepRecording? Recorder { get; set; }

    long Lap(string phase)
    {
        long now = Stopwatch.GetTimestamp(), elapsed = now - last;
        Recorder?.Phase(phase, last, now);
        last = now;
        return elapsed;
    }

    /// <summary>Starts the next lap now: the time since the last one (the profiler's own
    /// work between two steps) belongs to no phase.</summary>
    public void Skip() => last = Stopwatch.GetTimestamp();

    public void InputArrived() => input += Lap(PhaseNames.Input);
    public void ForwardDone() => forward += Lap(PhaseNames.Forward);
    public void BackwardDone() => backward += Lap(PhaseNames.Backward);
    public void Communicated() => communication += Lap(PhaseNames.Communication);
    public void Updated() => optimizer += Lap(PhaseNames.Optimizer);
    public void BookkeepingDone() => other += Lap(PhaseNames.Other);
    public void CallbacksDone()
    {
        callbacks += Lap(PhaseNames.Callbacks);
        steps++;
    }

    static TimeSpan Span(long ticks) => Stopwatch.GetElapsedTime(0, ticks);

    public StepTimes Result() => new(Span(input), Span(forward), Span(backward), Span(optimizer), Span(callbacks), Span(other), steps, Span(communication));
}
