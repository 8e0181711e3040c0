using System.Diagnostics;
using System.Text.Json;

namespace Functional.Profiling;

/// <summary>
/// Writes profiled steps in the Chrome trace-event format (JSON object form), which Perfetto and
/// chrome://tracing open: one track, on which each step holds its phases and the phases hold the
/// layer calls (category "forward" or "backward", nested by depth); the heap in use as a counter;
/// each input stage's work during the step as a counter. Times are microseconds from the first
/// recorded step.
/// </summary>
static class ChromeTrace
{
    const int Process = 1, Thread = 1;

    public static void Write(string path, IReadOnlyList<StepProfile> steps)
    {
        ArgumentNullException.ThrowIfNull(path);
        Persistence.AtomicFile.Write(path, stream =>
        {
            using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
            WriteTo(json, steps);
        });
    }

    static void WriteTo(Utf8JsonWriter json, IReadOnlyList<StepProfile> steps)
    {
        json.WriteStartObject();
        json.WriteString("displayTimeUnit", "ms");
        json.WriteStartArray("traceEvents");
        Metadata(json, "process_name", "Functional training");
        Metadata(json, "thread_name", "training step");
        long first = steps.Count == 0 ? 0 : steps[0].Origin;
        foreach (var step in steps)
        {
            double offset = Stopwatch.GetElapsedTime(first, step.Origin).TotalMicroseconds;
            Complete(json, $"step {step.Step}", "step", offset, step.Duration.TotalMicroseconds, w =>
            {
                w.WriteNumber("step", step.Step);
                w.WriteNumber("input_wait_share", Math.Round(step.InputWaitShare, 4));
                if (step.PeakHeapBytes is { } peak) w.WriteNumber("sampled_peak_heap_bytes", peak);
            });
            foreach (var span in step.Spans)
                Complete(json, span.Name, span.Category, offset + span.Start.TotalMicroseconds, (span.End - span.Start).TotalMicroseconds, w =>
                {
                    if (span.Kind is { } kind) w.WriteString("kind", kind);
                    if (span.Category != "phase") w.WriteNumber("depth", span.Depth);
                });
            foreach (var (at, bytes) in step.Heap)
                Counter(json, "heap in use (MB)", offset + at.TotalMicroseconds, w => w.WriteNumber("MB", Math.Round(bytes / 1048576.0, 3)));
            if (step.Stages.Count > 0)
                Counter(json, "input stages busy (ms)", offset, w =>
                {
                    foreach (var stage in step.Stages) w.WriteNumber(stage.Name, Math.Round(stage.Busy.TotalMilliseconds, 3));
                });
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    static void Metadata(Utf8JsonWriter json, string name, string value)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteString("ph", "M");
        json.WriteNumber("pid", Process);
        json.WriteNumber("tid", Thread);
        json.WriteStartObject("args");
        json.WriteString("name", value);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    static void Complete(Utf8JsonWriter json, string name, string category, double start, double duration, Action<Utf8JsonWriter> args)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteString("cat", category);
        json.WriteString("ph", "X");
        json.WriteNumber("ts", Math.Round(start, 3));
        json.WriteNumber("dur", Math.Round(Math.Max(0, duration), 3));
        json.WriteNumber("pid", Process);
        json.WriteNumber("tid", Thread);
        json.WriteStartObject("args");
        args(json);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    static void Counter(Utf8JsonWriter json, string name, double at, Action<Utf8JsonWriter> values)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteString("ph", "C");
        json.WriteNumber("ts", Math.Round(at, 3));
        json.WriteNumber("pid", Process);
        json.WriteStartObject("args");
        values(json);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
