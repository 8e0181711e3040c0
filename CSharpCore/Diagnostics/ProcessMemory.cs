namespace Functional.Diagnostics;

/// <summary>
/// This process's resident memory, native allocations (libtorch's tensors) included, which the
/// .NET GC does not see. Read from <c>/proc/self/status</c> on Linux; elsewhere from
/// <see cref="Environment.WorkingSet"/> (no peak there).
/// </summary>
public static class ProcessMemory
{
    /// <summary>Resident set size now, in MiB.</summary>
    public static double ResidentMb() => ReadStatusKb("VmRSS:") is { } kb ? kb / 1024.0 : Environment.WorkingSet / 1048576.0;

    /// <summary>Peak resident set size of the process so far, in MiB (<c>VmHWM</c>).</summary>
    public static double PeakResidentMb() => ReadStatusKb("VmHWM:") is { } kb ? kb / 1024.0 : ResidentMb();

    static long? ReadStatusKb(string field)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return null;
        foreach (var line in File.ReadLines(status))
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line[field.Length..].Trim().Split(' ')[0]);
        return null;
    }
}
