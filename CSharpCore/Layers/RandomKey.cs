using System.Text;
using TorchSharp;

namespace Functional.Layers;

/// <summary>
/// An immutable source of randomness (JAX's PRNG key). Nothing draws from a key directly:
/// a layer derives its own key from its path in the model with <see cref="Fold(string)"/>
/// (JAX's <c>fold_in</c>), and a fresh generator from that key with <see cref="NewGenerator"/>.
/// So a dropout mask depends only on (key, layer path), not on the order layers run in or on
/// how often a function is recomputed (<c>Checkpoint</c> sees the same mask).
/// </summary>
/// <param name="Value">The key's 64 bits.</param>
public readonly record struct RandomKey(ulong Value)
{
    /// <summary>The key of training step <paramref name="step"/> for <paramref name="seed"/>:
    /// a function of the two only, so a resumed run draws what an uninterrupted one would.</summary>
    public static RandomKey ForStep(ulong seed, long step) => new RandomKey(seed).Fold(step);

    /// <summary>The key for the part of a model named <paramref name="name"/> (a layer, a branch).</summary>
    public RandomKey Fold(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        // FNV-1a over the UTF-8 bytes, then mixed with the key.
        ulong hash = 0xCBF29CE484222325UL;
        foreach (var b in Encoding.UTF8.GetBytes(name)) hash = (hash ^ b) * 0x100000001B3UL;
        return new RandomKey(Mix(Value ^ Mix(hash)));
    }

    /// <summary>The key for the <paramref name="index"/>-th draw of a part (a step, a repetition).</summary>
    public RandomKey Fold(long index) => new(Mix(Value ^ Mix(unchecked((ulong)index + 0x9E3779B97F4A7C15UL))));

    /// <summary>A new generator seeded from this key; the caller disposes it. Two generators
    /// from the same key draw the same numbers.</summary>
    public torch.Generator NewGenerator() => new(Value);

    /// <summary>SplitMix64's finaliser: every input bit reaches every output bit.</summary>
    static ulong Mix(ulong z)
    {
        unchecked
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
