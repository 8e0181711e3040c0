namespace Functional.Streams;

/// <summary>
/// A stage of a stream failed: the message names the stage and the origin (source and row) of
/// the element it was processing; <see cref="Exception.InnerException"/> is what was thrown.
/// </summary>
public sealed class StreamException : Exception
{
    internal StreamException(string stage, Origin? origin, Exception inner)
        : base(origin is { } o ? $"Stream stage '{stage}' failed on the element from {o}: {inner.Message}" : $"Stream stage '{stage}' failed: {inner.Message}", inner)
        => (Stage, Origin) = (stage, origin);

    internal StreamException(string stage, string message) : base($"Stream stage '{stage}': {message}") => Stage = stage;

    /// <summary>The stage that failed, e.g. "map".</summary>
    public string Stage { get; }

    /// <summary>Where the element being processed came from, when known.</summary>
    public Origin? Origin { get; }

    /// <summary>Wraps <paramref name="e"/> unless it already names a stage (the innermost stage wins).</summary>
    internal static Exception Wrap(string stage, Origin? origin, Exception e) =>
        e is StreamException or OperationCanceledException ? e : new StreamException(stage, origin, e);
}
