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
        var temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        return new PendingFile(full, temporary);
    }

    /// <summary>Removes the temporary files in <paramref name="folder"/> whose writing process is
    /// gone (killed mid-write); those of live processes stay.</summary>
    public static void RemoveStaleTemporaries(string folder)
    {
        foreach (var file in Directory.EnumerateFiles(folder, ".*.tmp"))
        {
            if (OwnerIsAlive(Path.GetFileName(file))) continue;
            try { File.Delete(file); }
            catch (IOException) { }            // another process removed it first
            catch (UnauthorizedAccessException) { }
        }
    }

    static bool OwnerIsAlive(string name)
    {
        // .{target}.{pid}.{guid}.tmp: the pid is the third field from the end.
        var parts = name.Split('.');
        if (parts.Length < 5 || !int.TryParse(parts[^3], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) return false;
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
