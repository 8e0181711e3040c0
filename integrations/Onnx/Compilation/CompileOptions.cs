namespace Functional.Compilation;

/// <summary>How <see cref="ModelCompilation.Compile"/> builds a compiled model.</summary>
public sealed record CompileOptions
{
    /// <summary>Threads each ONNX Runtime session uses within an operator; null (the default):
    /// libtorch's intra-op thread count when the model is compiled.</summary>
    public int? IntraOpThreads { get; init; }

    /// <summary>When ONNX Runtime's threads spin waiting for work instead of sleeping
    /// (<see cref="Spinning.DuringRun"/> by default: fast hand-offs inside a call, no cores
    /// taken between calls, which suits a shared machine).</summary>
    public Spinning Spinning { get; init; } = Spinning.DuringRun;
}

/// <summary>When ONNX Runtime's intra-op threads spin waiting for work.</summary>
public enum Spinning
{
    /// <summary>Never: threads sleep when idle (the least CPU taken; slower hand-offs between
    /// the threads of one operator).</summary>
    Off,
    /// <summary>Within a call; they stop when it returns, so nothing spins between calls.</summary>
    DuringRun,
    /// <summary>Always, also between calls: the lowest latency on a machine of one's own (at
    /// batch 1 about half the time of <see cref="DuringRun"/> here), at the cost of cores spinning
    /// idle that other processes could use.</summary>
    Always,
}
