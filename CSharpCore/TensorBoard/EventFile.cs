using Google.Protobuf;

namespace Functional.TensorBoard;

/// <summary>
/// Appends TensorBoard events to a file of its own: TFRecord framing (little-endian length,
/// masked CRC-32C of the length, the Event protobuf, masked CRC-32C of the data), as
/// TensorBoard reads it.
/// </summary>
sealed class EventFile
{
    readonly string path;

    public EventFile(string folder, string suffix)
    {
        Directory.CreateDirectory(folder);
        path = Path.Combine(folder, $"events.out.tfevents.{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.functional.{Environment.ProcessId}.{suffix}");
        Write(new Tensorboard.Event { WallTime = Now(), FileVersion = "brain.Event:2" });
    }

    static double Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>Appends the model graph.</summary>
    public void Write(Tensorboard.GraphDef graph) => Write(new Tensorboard.Event { WallTime = Now(), GraphDef = graph.ToByteString() });

    /// <summary>Appends a summary at <paramref name="step"/>.</summary>
    public void Write(Tensorboard.Summary summary, long step) => Write(new Tensorboard.Event { WallTime = Now(), Step = step, Summary = summary });

    /// <summary>Appends a step's run metadata (per-node statistics for the Graphs dashboard) under <paramref name="tag"/>.</summary>
    public void Write(string tag, Tensorboard.RunMetadata metadata, long step) =>
        Write(new Tensorboard.Event
        {
            WallTime = Now(), Step = step,
            TaggedRunMetadata = new Tensorboard.TaggedRunMetadata { Tag = tag, RunMetadata = metadata.ToByteString() },
        });

    void Write(Tensorboard.Event e)
    {
        var data = e.ToByteArray();
        var length = BitConverter.GetBytes((ulong)data.LongLength);
        using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        file.Write(length);
        file.Write(BitConverter.GetBytes(Masked(length)));
        file.Write(data);
        file.Write(BitConverter.GetBytes(Masked(data)));
    }

    static uint Masked(byte[] bytes)
    {
        uint crc = Crc32.Castagnoli.Of(bytes);
        return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
    }
}
