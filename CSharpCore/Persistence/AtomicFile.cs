using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Functional.Persistence;

/// <summary>Writes files so that readers see the old file or the complete new one, never a
/// part: write a temporary file beside the target, flush it to disk, rename it over the target,
/// then flush the folder so the rename itself is durable. Temporary files are named
/// <c>.{target}.{process id}.{random}.tmp</c>; those a killed process left behind are removed by
/// the next write into the same folder.</summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> with <paramref name="write"/>; on any failure the
    /// previous file (if any) is untouched and the temporary file is removed.</summary>
    public static void Write(string path, Action<System.IO.Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        using var pending = Begin(path);
        write(pending.Stream);
        pending.Commit();
    }

    /// <summary>
    /// Starts writing <paramref name="path"/> over time (e.g. while a stream runs): write to
    /// <see cref="PendingFile.Stream"/>, then <see cref="PendingFile.Commit()"/>. Disposing a
    /// pending file that was not committed removes it and leaves the previous file untouched.
    /// </summary>
    public static PendingFile Begin(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        RemoveStaleTemporaries(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}-{HostTag}.{Guid.NewGuid():N}.tmp");
        return new PendingFile(full, temporary);
    }

    /// <summary>Removes the temporary files in <paramref name="folder"/> that this machine's
    /// processes wrote and that are gone (killed mid-write). Files of live processes, of other
    /// machines (a shared folder) and anything not named as our temporaries stay.</summary>
    public static void RemoveStaleTemporaries(string folder)
    {
        foreach (var file in Directory.EnumerateFiles(folder, ".*.tmp"))
        {
            var match = TemporaryName.Match(Path.GetFileName(file));
            if (!match.Success || match.Groups["host"].Value != HostTag) continue;
            if (OwnerIsAlive(int.Parse(match.Groups["pid"].Value, CultureInfo.InvariantCulture))) continue;
            try { File.Delete(file); }
            catch (IOException) { }            // another process removed it first
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary><c>.{target}.{pid}-{host}.{32 hex}.tmp</c>.</summary>
    static readonly System.Text.RegularExpressions.Regex TemporaryName =
        new(@"^\..+\.(?<pid>[0-9]{1,9})-(?<host>[0-9a-f]{8})\.[0-9a-f]{32}\.tmp$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>8 hex digits naming this machine (a hash of its name), so a shared folder's
    /// temporaries are judged only by processes of the machine that wrote them.</summary>
    static readonly string HostTag = Convert.ToHexStringLower(System.IO.Hashing.XxHash32.Hash(System.Text.Encoding.UTF8.GetBytes(Environment.MachineName)));

    static bool OwnerIsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; }   // no such process
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>Flushes <paramref name="folder"/>'s entries (renames, removals) to disk where the
    /// platform allows it (fsync of the directory on Linux and macOS).</summary>
    public static void FlushFolder(string folder)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Native.open(folder, 0 /* O_RDONLY */);
        if (fd < 0) return;
        Native.fsync(fd);
        Native.close(fd);
    }

    static class Native
    {
        [DllImport("libc", SetLastError = true)] public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
        [DllImport("libc", SetLastError = true)] public static extern int fsync(int fd);
        [DllImport("libc")] public static extern int close(int fd);
    }
}

/// <summary>A file being written atomically (see <see cref="AtomicFile.Begin"/>).</summary>
public sealed class PendingFile : IDisposable
{
    readonly string target, temporary;
    readonly FileStream stream;
    bool done;

    internal PendingFile(string target, string temporary)
    {
        (this.target, this.temporary) = (target, temporary);
        stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
    }

    /// <summary>Where to write the file's bytes.</summary>
    public System.IO.Stream Stream => stream;

    /// <summary>Flushes the bytes to disk and renames the file over its target.</summary>
    public void Commit() => Commit(null);

    /// <summary>Flushes the bytes, lets <paramref name="seal"/> read and patch the complete file
    /// (e.g. write a checksum into it), flushes again and renames the file over its target.</summary>
    public void Commit(Action<FileStream>? seal)
    {
        ObjectDisposedException.ThrowIf(done, this);
        stream.Flush(flushToDisk: seal is null);
        stream.Dispose();
        if (seal is not null)
        {
            using var file = new FileStream(temporary, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            seal(file);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, target, overwrite: true);
        AtomicFile.FlushFolder(Path.GetDirectoryName(target)!);
        done = true;
    }

    /// <summary>Removes the file unless it was committed.</summary>
    public void Dispose()
    {
        stream.Dispose();
        if (!done && File.Exists(temporary)) File.Delete(temporary);
        done = true;
    }
}
