namespace Functional.Streams;

/// <summary>Degrees of parallelism for <see cref="DataStream{T}.Map{U}(Func{T, U}, int, bool, string)"/> and interleave.</summary>
public static class Parallelism
{
    /// <summary>
    /// Tuned while the stream runs: an ordered map starts with one worker and adds workers, up to
    /// one per processor core, while the consumer keeps finding its next result unfinished (the
    /// counters show how many it uses); an unordered map uses one per core.
    /// </summary>
    public const int Auto = -1;

    internal static int Resolve(int degree, string parameter) => degree switch
    {
        Auto => Environment.ProcessorCount,
        >= 1 => degree,
        _ => throw new ArgumentOutOfRangeException(parameter, degree, "The degree of parallelism must be at least 1, or Parallelism.Auto."),
    };
}
