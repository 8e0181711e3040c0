using System.Diagnostics;

namespace Functional.Bench;

/// <summary>Runs this benchmark program again as a child process (so allocator settings and
/// peak memory are its own) and reads the key=value lines it prints.</summary>
static class ChildProcess
{
    public static Dictionary<string, double> Run(IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        string[] all = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet"
            ? [typeof(ChildProcess).Assembly.Location, .. arguments]
            : arguments;
        var info = new ProcessStartInfo(Environment.ProcessPath!, all) { RedirectStandardOutput = true };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', arguments)} failed:\n{output}");
        return KeyValues(output);
    }

    /// <summary>The key=value lines of a benchmark's output, values as numbers.</summary>
    public static Dictionary<string, double> KeyValues(string output) =>
        output.Split('\n').Select(l => l.Split('=')).Where(p => p.Length == 2)
            .ToDictionary(p => p[0].Trim(), p => double.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
}
