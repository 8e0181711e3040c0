namespace Functional.Compilation;

/// <summary>Where a part of a compiled model runs.</summary>
public enum SegmentRuntime
{
    /// <summary>In an ONNX Runtime session built from the part's own ONNX export.</summary>
    OnnxRuntime,
    /// <summary>Eagerly in libtorch, as the model itself runs (a layer without an ONNX lowering:
    /// a graph break, as in torch.compile).</summary>
    Eager,
}

/// <summary>One part of a compiled model: consecutive layer calls that run in one place.</summary>
/// <param name="Layers">The layers' names, in order.</param>
/// <param name="Runtime">Where they run.</param>
/// <param name="Reason">Why a part runs eagerly (the lowering's message); null for ONNX Runtime parts.</param>
public sealed record PlanSegment(IReadOnlyList<string> Layers, SegmentRuntime Runtime, string? Reason)
{
    /// <inheritdoc/>
    public override string ToString() => Runtime == SegmentRuntime.OnnxRuntime
        ? $"onnxruntime: {string.Join(", ", Layers)}"
        : $"eager: {string.Join(", ", Layers)} ({Reason})";
}

/// <summary>What <see cref="ModelCompilation.Compile"/> chose: the parts in order and the
/// settings they run with. Reproducible: the same model and options give the same plan.</summary>
/// <param name="Segments">The parts, in order.</param>
/// <param name="IntraOpThreads">Threads per ONNX Runtime session.</param>
/// <param name="Spinning">When ONNX Runtime's threads spin.</param>
public sealed record ExecutionPlan(IReadOnlyList<PlanSegment> Segments, int IntraOpThreads, Spinning Spinning)
{
    /// <summary>Whether some part runs eagerly.</summary>
    public bool HasGraphBreaks => Segments.Any(s => s.Runtime == SegmentRuntime.Eager);

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Segments.Count} part(s), ONNX Runtime with {IntraOpThreads} thread(s), spinning {Spinning}:"
        + string.Concat(Segments.Select((s, i) => $"\n  {i + 1}. {s}"));
}
