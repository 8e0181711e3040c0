using System.Diagnostics;

namespace Functional.Distributed;

/// <summary>
/// Ends a job whose collective waits too long: a rank that died without mpirun noticing, or one
/// that hangs, leaves the others blocked inside MPI for ever. Each collective notes when it
/// began; a timer checks, and past the timeout writes what waited, where and for how long to
/// standard error and calls <c>MPI_Abort</c>, which ends every rank with a non-zero exit code.
/// </summary>
sealed class CollectiveWatchdog
{
    readonly Communicator communicator;
    readonly Timer timer;
    long startedAt;   // Stopwatch ticks when the current collective began; 0 when none runs
    string what = "";
    long elements;

    public CollectiveWatchdog(Communicator communicator)
    {
        this.communicator = communicator;
        timer = new Timer(_ => Check(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>Watches one collective of <paramref name="count"/> elements (or bytes) until the
    /// returned scope ends. Nothing is formatted unless the job is ended: a small all-reduce
    /// takes about a microsecond.</summary>
    public Scope Watch(string operation, long count)
    {
        (what, elements) = (operation, count);
        Volatile.Write(ref startedAt, Stopwatch.GetTimestamp());
        return new Scope(this);
    }

    void Check()
    {
        long began = Volatile.Read(ref startedAt);
        var timeout = communicator.Timeout;
        if (began == 0 || timeout == Timeout.InfiniteTimeSpan) return;
        var waited = Stopwatch.GetElapsedTime(began);
        if (waited < timeout) return;
        timer.Dispose();
        communicator.Abort(
            $"{what}{(elements > 0 ? $" of {elements:N0} values" : "")} on rank {communicator.Rank} of {communicator.Size} has waited {waited.TotalSeconds:F0} s for the other ranks (Communicator.Timeout is {timeout.TotalSeconds:F0} s): a rank has died or hangs.");
    }

    /// <summary>The span of one collective.</summary>
    public readonly struct Scope(CollectiveWatchdog watchdog) : IDisposable
    {
        /// <summary>The collective has returned.</summary>
        public void Dispose() => Volatile.Write(ref watchdog.startedAt, 0);
    }
}
