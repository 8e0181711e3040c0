namespace Functional.Streams;

/// <summary>One enumeration of a stream: which epoch (it seeds shuffles) and how to cancel it.</summary>
internal sealed class StreamRun(int epoch, CancellationToken token)
{
    public int Epoch { get; } = epoch;
    public CancellationToken Token { get; } = token;
}
