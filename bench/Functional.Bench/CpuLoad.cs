using System.Diagnostics;

namespace Functional.Bench;

/// <summary>Busy processes (a shell loop each) that keep cores loaded while a benchmark runs
/// beside them; disposing stops them.</summary>
sealed class CpuLoad : IDisposable
{
    readonly Process[] processes;

    CpuLoad(Process[] processes) => this.processes = processes;

    public static CpuLoad Start(int processes) =>
        new([.. Enumerable.Range(0, processes).Select(_ => Process.Start(new ProcessStartInfo("sh", ["-c", "while :; do :; done"]))!)]);

    public void Dispose()
    {
        foreach (var p in processes)
        {
            try { p.Kill(); p.WaitForExit(); }
            catch (InvalidOperationException) { }   // already gone
            p.Dispose();
        }
    }
}
