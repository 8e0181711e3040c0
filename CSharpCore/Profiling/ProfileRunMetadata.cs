using Functional.Layers;
using Functional.TensorBoard;

namespace Functional.Profiling;

/// <summary>
/// Recorded steps as TensorBoard run metadata: the network's graph, then per step a
/// <c>RunMetadata</c> tagged "step_N" whose <c>StepStats</c> hold one <c>NodeExecStats</c> per
/// layer call that is not a composite, named as the graph names it, with its forward plus
/// backward time and the heap its forward call kept. The Graphs dashboard then offers each step
/// under "Run" and colours nodes by compute time and memory.
/// </summary>
static class ProfileRunMetadata
{
    public const string Device = "/device:CPU:0";

    public static void Write(string runDir, ILayer network, IReadOnlyList<long[]> inputShapes, IReadOnlyList<StepProfile> steps)
    {
        ArgumentNullException.ThrowIfNull(runDir);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(inputShapes);
        var events = new EventFile(runDir, "profile");
        events.Write(ModelGraph.Of(network, inputShapes));
        foreach (var step in steps) events.Write($"step_{step.Step}", Of(step), step.Step);
    }

    public static Tensorboard.RunMetadata Of(StepProfile step)
    {
        var device = new Tensorboard.DeviceStepStats { Device = Device };
        long startMicros = step.Started.ToUnixTimeMilliseconds() * 1000;
        var forwardStarts = step.Spans.Where(s => s.Category == "forward").ToList();
        for (int i = 0; i < step.Layers.Count; i++)
        {
            var layer = step.Layers[i];
            if (layer.Composite || layer.Kind == "loss") continue;
            long micros = (long)Math.Round(layer.Total.TotalMicroseconds);
            var node = new Tensorboard.NodeExecStats
            {
                NodeName = layer.Name,
                AllStartMicros = startMicros + (long)forwardStarts[i].Start.TotalMicroseconds,
                OpStartRelMicros = 0,
                OpEndRelMicros = micros,
                AllEndRelMicros = micros,
                TimelineLabel = $"{layer.Kind}: forward {layer.Forward.TotalMilliseconds:F3} ms, backward {layer.Backward.TotalMilliseconds:F3} ms",
            };
            if (layer.ActivationBytes is { } bytes)
                node.Memory.Add(new Tensorboard.AllocatorMemoryUsed { AllocatorName = "cpu", TotalBytes = Math.Max(0, bytes), PeakBytes = Math.Max(0, bytes) });
            device.NodeStats.Add(node);
        }
        var stats = new Tensorboard.StepStats();
        stats.DevStats.Add(device);
        return new Tensorboard.RunMetadata { StepStats = stats };
    }
}
