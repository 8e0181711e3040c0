namespace Functional.Streams;

/// <summary>Degrees of parallelism for <see cref="DataStream{T}.Map{U}(Func{T, U}, int, bool)"/> and interleave.</summary>
public static class Parallelism
{
    /// <summary>One worker per processor core (<see cref="Environment.ProcessorCount"/>).</summary>
    public const int Auto = -1;

    internal static int Resolve(int degree, string parameter) => degree switch
    {
        Auto => Environment.ProcessorCount,
        >= 1 => degree,
        _ => throw new ArgumentOutOfRangeException(parameter, degree, "The degree of parallelism must be at least 1, or Parallelism.Auto."),
    };
}
