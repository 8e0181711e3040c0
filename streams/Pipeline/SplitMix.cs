namespace Functional.Streams;

/// <summary>
/// A small, fixed pseudo-random generator (SplitMix64): the same seed gives the same numbers on
/// every machine and .NET version, so shuffles are reproducible from their seed.
/// </summary>
internal struct SplitMix(ulong seed)
{
    ulong state = seed;

    /// <summary>The generator for <paramref name="seed"/> in <paramref name="epoch"/>.</summary>
    public static SplitMix For(ulong seed, int epoch) => new(Mix(seed ^ Mix((ulong)epoch + 0x9E3779B97F4A7C15UL)));

    public ulong Next() => Mix(state += 0x9E3779B97F4A7C15UL);

    /// <summary>Uniform in [0, bound).</summary>
    public int Below(int bound) => (int)((Next() >> 33) * (ulong)bound >> 31);

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
