namespace Functional.Training;

/// <summary>
/// The running totals of one stage of an input pipeline (a stream's map, shuffle, prefetch...),
/// as the profiler reads them at the start and end of each recorded step.
/// </summary>
/// <param name="Name">The stage's name, e.g. "map(decode)".</param>
/// <param name="Busy">Time in the stage's own work, on any thread.</param>
/// <param name="WaitingUpstream">Time it waited for the stage before it.</param>
/// <param name="Elements">Elements it produced.</param>
/// <param name="Workers">Threads it uses now (a parallel map), else 0.</param>
public sealed record StageCounters(string Name, TimeSpan Busy, TimeSpan WaitingUpstream, long Elements, int Workers);

/// <summary>A batch source whose stages the profiler can read (streams are: see
/// <c>StreamTraining.ToBatchSource</c>); Fit reads them when a <see cref="Profiling.Profiler"/> records.</summary>
public interface IStageCounters
{
    /// <summary>Every stage's totals now, upstream first.</summary>
    IReadOnlyList<StageCounters> ReadStages();
}
