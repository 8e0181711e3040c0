namespace Functional.Persistence;

/// <summary>Writes files so that readers see the old file or the complete new one, never a
/// part: write a temporary file beside the target, flush it to disk, rename it over the target.</summary>
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
    /// <see cref="PendingFile.Stream"/>, then <see cref="PendingFile.Commit"/>. Disposing a
    /// pending file that was not committed removes it and leaves the previous file untouched.
    /// </summary>
    public static PendingFile Begin(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        return new PendingFile(full, temporary);
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
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(done, this);
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        File.Move(temporary, target, overwrite: true);
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
