namespace Functional.Training;

/// <summary>What Fit asks of a callback that records steps in detail (the profiler): a
/// recording for the step about to begin, or null when it does not record that step.</summary>
interface IStepProfiler
{
    /// <summary>Reads these input stages at each recorded step (null: the source has none).</summary>
    void Watch(IStageCounters? source);

    /// <summary>A recording for the next step, active on this thread, or null.</summary>
    IStepRecording? BeginStep();

    /// <summary>The step ended (counted whether it was recorded or not).</summary>
    void EndStep(IStepRecording? recording);

    /// <summary>The step did not happen or failed: nothing is kept.</summary>
    void Abandon(IStepRecording? recording);
}

/// <summary>One step being recorded: Fit hands it each phase as it ends.</summary>
interface IStepRecording
{
    /// <summary>A phase (<see cref="PhaseNames"/>) between two Stopwatch timestamps.</summary>
    void Phase(string name, long start, long end);
}
