using System.Diagnostics;

namespace Functional.Training;

/// <summary>
/// Where one epoch's training time went: waiting for input, the forward and backward pass,
/// the optimizer, and everything else of the driver (metrics, callbacks, progress). The profile
/// to look at when training is slow: a large input share means the data pipeline cannot keep up.
/// </summary>
/// <param name="InputWait">Time spent waiting for the next batch.</param>
/// <param name="ForwardBackward">Loss and gradients.</param>
/// <param name="Optimizer">The update, applied in place.</param>
/// <param name="Other">Metrics, callbacks, progress and bookkeeping.</param>
/// <param name="Steps">Steps in the epoch.</param>
public sealed record StepTimes(TimeSpan InputWait, TimeSpan ForwardBackward, TimeSpan Optimizer, TimeSpan Other, long Steps)
{
    /// <summary>All of it.</summary>
    public TimeSpan Total => InputWait + ForwardBackward + Optimizer + Other;

    /// <summary>Share of the epoch spent waiting for input, in [0, 1].</summary>
    public double InputWaitShare => Total > TimeSpan.Zero ? InputWait / Total : 0;

    /// <summary>"input 2% - forward/backward 81% - optimizer 12% - other 5%".</summary>
    public override string ToString()
    {
        string Share(TimeSpan part) => Total > TimeSpan.Zero ? $"{100 * (part / Total):F0}%" : "0%";
        return $"input {Share(InputWait)} - forward/backward {Share(ForwardBackward)} - optimizer {Share(Optimizer)} - other {Share(Other)}";
    }
}

/// <summary>Accumulates <see cref="StepTimes"/> from timestamps taken along one epoch.</summary>
sealed class StepClock
{
    long input, forwardBackward, optimizer, other, steps, last = Stopwatch.GetTimestamp();

    long Lap()
    {
        long now = Stopwatch.GetTimestamp(), elapsed = now - last;
        last = now;
        return elapsed;
    }

    public void InputArrived() => input += Lap();
    public void GradientsReady() => forwardBackward += Lap();
    public void Updated() => optimizer += Lap();
    public void StepDone()
    {
        other += Lap();
        steps++;
    }

    public StepTimes Result() => new(
        Stopwatch.GetElapsedTime(0, input), Stopwatch.GetElapsedTime(0, forwardBackward),
        Stopwatch.GetElapsedTime(0, optimizer), Stopwatch.GetElapsedTime(0, other), steps);
}
