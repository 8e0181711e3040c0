using System.Diagnostics;

namespace Functional.Bench;

/// <summary>Timing helpers shared by the benchmarks.</summary>
static class Measure
{
    /// <summary>Wall-clock seconds <paramref name="run"/> takes.</summary>
    public static double Seconds(Action run)
    {
        var clock = Stopwatch.StartNew();
        run();
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>The median (upper median for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
