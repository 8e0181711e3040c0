using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Trees;

/// <summary>
/// The shape of a <see cref="TensorTree"/> without its values: leaf paths, shapes and dtypes in
/// order (JAX calls it a treedef). It turns a flat vector back into a tree.
/// </summary>
public sealed class TreeStructure : IEquatable<TreeStructure>
{
    internal TreeStructure(string[] paths, long[][] shapes, ScalarType[] dtypes)
    {
        Paths = paths;
        Shapes = shapes;
        DTypes = dtypes;
    }

    /// <summary>Leaf paths, in order.</summary>
    public IReadOnlyList<string> Paths { get; }

    /// <summary>Leaf shapes, in order.</summary>
    public IReadOnlyList<long[]> Shapes { get; }

    /// <summary>Leaf dtypes, in order.</summary>
    public IReadOnlyList<ScalarType> DTypes { get; }

    /// <summary>Total number of scalars.</summary>
    public long ScalarCount => Shapes.Sum(Numel);

    static long Numel(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Splits a 1-D <paramref name="vector"/> into leaves of this structure's shapes and
    /// dtypes (the inverse of <see cref="TensorTree.Flatten"/>). Leaves are views where the dtype
    /// already matches.</summary>
    /// <exception cref="ArgumentException">The vector is not 1-D or has the wrong length.</exception>
    public TensorTree Unflatten(Tensor vector)
    {
        ArgumentNullException.ThrowIfNull(vector);
        if (vector.dim() != 1 || vector.shape[0] != ScalarCount)
            throw new ArgumentException(
                $"Unflatten needs a 1-D vector of length {ScalarCount} for this tree; got shape [{string.Join(", ", vector.shape)}].",
                nameof(vector));
        var leaves = new (string, Tensor)[Paths.Count];
        long offset = 0;
        for (int i = 0; i < leaves.Length; i++)
        {
            long n = Numel(Shapes[i]);
            leaves[i] = (Paths[i], vector.narrow(0, offset, n).view(Shapes[i]).to_type(DTypes[i]));
            offset += n;
        }
        return TensorTree.FromLeaves(leaves);
    }

    /// <inheritdoc/>
    public bool Equals(TreeStructure? other) =>
        other is not null
        && Paths.SequenceEqual(other.Paths)
        && DTypes.SequenceEqual(other.DTypes)
        && Shapes.Zip(other.Shapes).All(p => p.First.SequenceEqual(p.Second));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as TreeStructure);

    /// <inheritdoc/>
    public override int GetHashCode() => Paths.Aggregate(Paths.Count, (h, p) => HashCode.Combine(h, p));

    /// <summary>One line per leaf: path, shape and dtype.</summary>
    public override string ToString() =>
        string.Join(Environment.NewLine, Paths.Select((p, i) => $"{(p.Length == 0 ? "<root>" : p)}: [{string.Join(", ", Shapes[i])}] {DTypes[i]}"));
}
