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
public sealed record StepTimes(
    TimeSpan InputWait, TimeSpan Forward, TimeSpan Backward, TimeSpan Optimizer, TimeSpan Callbacks, TimeSpan Other, long Steps)
{
    /// <summary>All of it.</summary>
    public TimeSpan Total => InputWait + Forward + Backward + Optimizer + Callbacks + Other;

    /// <summary>Share of the epoch spent waiting for input, in [0, 1].</summary>
    public double InputWaitShare => Total > TimeSpan.Zero ? InputWait / Total : 0;

    /// <summary>"input 2% - forward 30% - backward 51% - optimizer 12% - callbacks 1% - other 4%".</summary>
    public override string ToString()
    {
        string Share(TimeSpan part) => Total > TimeSpan.Zero ? $"{100 * (part / Total):F0}%" : "0%";
        return $"input {Share(InputWait)} - forward {Share(Forward)} - backward {Share(Backward)} - optimizer {Share(Optimizer)} - " +
               $"callbacks {Share(Callbacks)} - other {Share(Other)}";
    }
}

/// <summary>Accumulates <see cref="StepTimes"/> from timestamps taken along one epoch.</summary>
sealed class StepClock
{
    long input, forward, backward, optimizer, callbacks, other, steps, last = Stopwatch.GetTimestamp();

    long Lap()
    {
        long now = Stopwatch.GetTimestamp(), elapsed = now - last;
        last = now;
        return elapsed;
    }

    public void InputArrived() => input += Lap();
    public void ForwardDone() => forward += Lap();
    public void BackwardDone() => backward += Lap();
    public void Updated() => optimizer += Lap();
    public void BookkeepingDone() => other += Lap();
    public void CallbacksDone()
    {
        callbacks += Lap();
        steps++;
    }

    static TimeSpan Span(long ticks) => Stopwatch.GetElapsedTime(0, ticks);

    public StepTimes Result() => new(Span(input), Span(forward), Span(backward), Span(optimizer), Span(callbacks), Span(other), steps);
}
