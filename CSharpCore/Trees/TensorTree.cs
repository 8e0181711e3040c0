using System.Collections;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Trees;

/// <summary>
/// An immutable tree of tensors whose leaves are addressed by paths such as
/// <c>"encoder/dense_1/kernel"</c> (see <see cref="TreePath"/>). Parameters, gradients, optimizer
/// state and model state are all trees; a gradient has the same structure as its parameters.
/// Leaves keep the order they were given in, which fixes the layout of <see cref="Flatten"/>.
/// </summary>
/// <remarks>
/// A tree does not copy its tensors: transformations build new trees that may share leaves with
/// the old one. <see cref="Dispose"/> disposes every leaf; trees sharing those leaves see them
/// disposed too, so dispose the tree that owns them (usually: let a dispose scope do it).
/// </remarks>
public sealed class TensorTree : IReadOnlyList<KeyValuePair<string, Tensor>>, IDisposable
{
    readonly string[] paths;
    readonly Tensor[] leaves;
    readonly Dictionary<string, int> index;

    TensorTree(string[] paths, Tensor[] leaves, Dictionary<string, int> index)
    {
        this.paths = paths;
        this.leaves = leaves;
        this.index = index;
    }

    /// <summary>The tree with no leaves.</summary>
    public static TensorTree Empty { get; } = new([], [], new Dictionary<string, int>());

    /// <summary>A tree that is one tensor, at the root path "".</summary>
    public static TensorTree Leaf(Tensor value) => Of(("", value));

    /// <summary>A tree from (path, tensor) pairs, in the given order.</summary>
    /// <exception cref="ArgumentException">A path is malformed, repeated, or both a leaf and a
    /// node (e.g. "a" and "a/b").</exception>
    public static TensorTree Of(params (string Path, Tensor Value)[] leaves) => FromLeaves(leaves);

    /// <summary>A tree from (path, tensor) pairs, in the given order.</summary>
    /// <inheritdoc cref="Of(ValueTuple{string, Tensor}[])" path="/exception"/>
    public static TensorTree FromLeaves(IEnumerable<(string Path, Tensor Value)> leaves)
    {
        var list = leaves.ToList();
        var paths = new string[list.Count];
        var values = new Tensor[list.Count];
        var index = new Dictionary<string, int>(list.Count, StringComparer.Ordinal);
        for (int i = 0; i < list.Count; i++)
        {
            var (path, value) = list[i];
            TreePath.Validate(path, nameof(leaves));
            ArgumentNullException.ThrowIfNull(value, $"{nameof(leaves)}['{path}']");
            if (!index.TryAdd(path, i))
                throw new ArgumentException($"Tree path '{path}' appears twice.", nameof(leaves));
            paths[i] = path;
            values[i] = value;
        }
        CheckNoLeafIsANode(paths);
        return new TensorTree(paths, values, index);
    }

    /// <summary>A tree whose children are the given trees, each under its name.</summary>
    public static TensorTree Node(params (string Name, TensorTree Child)[] children) =>
        FromLeaves(children.SelectMany(c => c.Child.Select(kv => (TreePath.Join(c.Name, kv.Key), kv.Value))));

    static void CheckNoLeafIsANode(string[] paths)
    {
        if (paths.Length < 2) return;
        var set = new HashSet<string>(paths, StringComparer.Ordinal);
        foreach (var path in paths)
            for (int cut = path.IndexOf(TreePath.Separator); cut > 0; cut = path.IndexOf(TreePath.Separator, cut + 1))
                if (set.Contains(path[..cut]))
                    throw new ArgumentException($"Tree path '{path[..cut]}' is a leaf and also has '{path}' below it.");
        if (set.Contains(""))
            throw new ArgumentException("The root path '' is a leaf, so the tree can have no other leaves.");
    }

    /// <summary>Number of leaves.</summary>
    public int Count => leaves.Length;

    /// <summary>Leaf paths, in order.</summary>
    public IReadOnlyList<string> Paths => paths;

    /// <summary>Leaf tensors, in order.</summary>
    public IReadOnlyList<Tensor> Leaves => leaves;

    /// <summary>The leaf at <paramref name="path"/>.</summary>
    /// <exception cref="KeyNotFoundException">No leaf has that path (the message lists the paths).</exception>
    public Tensor this[string path] =>
        index.TryGetValue(path, out var i)
            ? leaves[i]
            : throw new KeyNotFoundException($"The tree has no leaf '{path}'. Its leaves: {DescribePaths()}.");

    KeyValuePair<string, Tensor> IReadOnlyList<KeyValuePair<string, Tensor>>.this[int i] => new(paths[i], leaves[i]);

    /// <summary>The tensor of a tree that is one leaf at the root (<c>Leaf(x).Value</c> is x).</summary>
    /// <exception cref="InvalidOperationException">The tree is not one root leaf (the message lists its paths).</exception>
    public Tensor Value => leaves.Length == 1 && paths[0].Length == 0 ? leaves[0]
        : throw new InvalidOperationException($"The tree is not one tensor at the root; its leaves: {DescribePaths()}.");

    /// <summary>True when a leaf has this path.</summary>
    public bool ContainsLeaf(string path) => index.ContainsKey(path);

    /// <summary>Tries to find the leaf at <paramref name="path"/>.</summary>
    public bool TryGetLeaf(string path, out Tensor value)
    {
        var found = index.TryGetValue(path, out var i);
        value = found ? leaves[i] : null!;
        return found;
    }

    /// <summary>Total number of scalars over all leaves.</summary>
    public long ScalarCount => leaves.Sum(t => t.numel());

    /// <summary>The paths, shapes and dtypes of the leaves: what <see cref="Flatten"/> forgets.</summary>
    public TreeStructure Structure => new(paths, leaves.Select(t => t.shape).ToArray(), leaves.Select(t => t.dtype).ToArray());

    /// <summary>A tree with this tree's paths and <paramref name="newLeaves"/>, in the same order.</summary>
    /// <exception cref="ArgumentException">The count differs or a leaf is null.</exception>
    public TensorTree WithLeaves(IReadOnlyList<Tensor> newLeaves)
    {
        ArgumentNullException.ThrowIfNull(newLeaves);
        if (newLeaves.Count != leaves.Length)
            throw new ArgumentException($"The tree has {leaves.Length} leaves but {newLeaves.Count} were given.", nameof(newLeaves));
        var copy = new Tensor[leaves.Length];
        for (int i = 0; i < copy.Length; i++)
            copy[i] = newLeaves[i] ?? throw new ArgumentException($"Leaf '{paths[i]}' is null.", nameof(newLeaves));
        return new TensorTree(paths, copy, index);
    }

    /// <summary>A tree of the same paths with <paramref name="f"/> applied to every leaf.</summary>
    public TensorTree Map(Func<Tensor, Tensor> f) => Map((_, t) => f(t));

    /// <summary>A tree of the same paths with <paramref name="f"/>(path, leaf) applied to every leaf.</summary>
    public TensorTree Map(Func<string, Tensor, Tensor> f)
    {
        var mapped = new Tensor[leaves.Length];
        for (int i = 0; i < leaves.Length; i++) mapped[i] = f(paths[i], leaves[i]);
        return new TensorTree(paths, mapped, index);
    }

    /// <summary>Combines two trees with the same paths leaf by leaf (JAX's <c>tree_map</c> over two trees).</summary>
    /// <exception cref="ArgumentException">The trees' paths differ (the message names the first difference).</exception>
    public TensorTree Zip(TensorTree other, Func<Tensor, Tensor, Tensor> f) => Zip(other, (_, a, b) => f(a, b));

    /// <summary>Combines two trees with the same paths leaf by leaf, also passing the path.</summary>
    /// <inheritdoc cref="Zip(TensorTree, Func{Tensor, Tensor, Tensor})" path="/exception"/>
    public TensorTree Zip(TensorTree other, Func<string, Tensor, Tensor, Tensor> f)
    {
        RequireSamePaths(other, nameof(other));
        var zipped = new Tensor[leaves.Length];
        for (int i = 0; i < leaves.Length; i++) zipped[i] = f(paths[i], leaves[i], other.leaves[other.IndexOf(paths[i], i)]);
        return new TensorTree(paths, zipped, index);
    }

    int IndexOf(string path, int hint) =>
        hint < paths.Length && ReferenceEquals(paths[hint], path) || hint < paths.Length && paths[hint] == path ? hint : index[path];

    /// <summary>Throws unless <paramref name="other"/> has exactly this tree's paths.</summary>
    public void RequireSamePaths(TensorTree other, string argumentName)
    {
        ArgumentNullException.ThrowIfNull(other, argumentName);
        if (ReferenceEquals(index, other.index)) return;
        foreach (var path in paths)
            if (!other.index.ContainsKey(path))
                throw new ArgumentException($"Tree structures differ: '{path}' is missing from {argumentName} (it has {other.DescribePaths()}).", argumentName);
        foreach (var path in other.paths)
            if (!index.ContainsKey(path))
                throw new ArgumentException($"Tree structures differ: {argumentName} has '{path}', which the other tree lacks (it has {DescribePaths()}).", argumentName);
    }

    /// <summary>Throws unless <paramref name="other"/> has this tree's paths, shapes and dtypes
    /// (the message names <paramref name="what"/> and the first leaf that differs).</summary>
    public void RequireSameStructure(TensorTree other, string what)
    {
        RequireSamePaths(other, what);
        foreach (var (path, t) in this)
        {
            var o = other[path];
            if (!t.shape.SequenceEqual(o.shape) || t.dtype != o.dtype)
                throw new ArgumentException(
                    $"The {what} do not fit: '{path}' is ({string.Join(", ", o.shape)}) {o.dtype} where ({string.Join(", ", t.shape)}) {t.dtype} is expected.");
        }
    }

    /// <summary>Folds over the leaves in order.</summary>
    public TAccumulate Fold<TAccumulate>(TAccumulate seed, Func<TAccumulate, string, Tensor, TAccumulate> f)
    {
        var acc = seed;
        for (int i = 0; i < leaves.Length; i++) acc = f(acc, paths[i], leaves[i]);
        return acc;
    }

    /// <summary>The sub-tree at <paramref name="prefix"/>, with paths relative to it
    /// (a leaf at exactly <paramref name="prefix"/> becomes the root leaf).</summary>
    public TensorTree Select(string prefix)
    {
        TreePath.Validate(prefix, nameof(prefix));
        return FromLeaves(this.Where(kv => TreePath.IsUnder(kv.Key, prefix)).Select(kv => (TreePath.Relative(kv.Key, prefix), kv.Value)));
    }

    /// <summary>The leaves whose path satisfies <paramref name="keep"/>, paths unchanged.</summary>
    public TensorTree Filter(Func<string, Tensor, bool> keep) =>
        FromLeaves(this.Where(kv => keep(kv.Key, kv.Value)).Select(kv => (kv.Key, kv.Value)));

    /// <summary>This tree with every path put under <paramref name="name"/>.</summary>
    public TensorTree Prefix(string name) => Node((name, this));

    /// <summary>The union of two trees; where both have a path, <paramref name="other"/>'s leaf wins
    /// (so merging a model-state update into old state replaces what changed).</summary>
    public TensorTree Merge(TensorTree other)
    {
        var result = this.Select(kv => (kv.Key, other.TryGetLeaf(kv.Key, out var o) ? o : kv.Value)).ToList();
        result.AddRange(other.Where(kv => !index.ContainsKey(kv.Key)).Select(kv => (kv.Key, kv.Value)));
        return FromLeaves(result);
    }

    /// <summary>All leaves concatenated into one 1-D tensor, in leaf order (dtypes promoted to a
    /// common one). <see cref="TreeStructure.Unflatten"/> of <see cref="Structure"/> inverts it.</summary>
    public Tensor Flatten()
    {
        if (leaves.Length == 0) return torch.empty(0);
        var dtype = leaves.Skip(1).Aggregate(leaves[0].dtype, (d, t) => torch.promote_types(d, t.dtype));
        using var scope = torch.NewDisposeScope();
        var flat = torch.cat(leaves.Select(t => t.reshape(-1).to_type(dtype)).ToArray());
        return flat.MoveToOuterDisposeScope();
    }

    /// <summary>Every leaf converted to <paramref name="dtype"/>.</summary>
    public TensorTree To(ScalarType dtype) => Map(t => t.to_type(dtype));

    /// <summary>Every leaf moved to <paramref name="device"/>.</summary>
    public TensorTree To(Device device) => Map(t => t.to(device));

    /// <summary>Every leaf detached from the autograd graph (shares storage).</summary>
    public TensorTree Detach() => Map(t => t.detach());

    /// <summary>A deep copy: every leaf cloned (detached).</summary>
    public TensorTree Clone() => Map(t => t.detach().clone());

    /// <summary>Moves every leaf to the enclosing dispose scope (see TorchSharp's dispose scopes).</summary>
    public TensorTree MoveToOuterDisposeScope()
    {
        foreach (var t in leaves) t.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Detaches every leaf from any dispose scope: the caller owns them.</summary>
    public TensorTree DetachFromDisposeScope()
    {
        foreach (var t in leaves) t.DetachFromDisposeScope();
        return this;
    }

    /// <summary>Disposes every leaf tensor.</summary>
    public void Dispose()
    {
        foreach (var t in leaves) t.Dispose();
    }

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator()
    {
        for (int i = 0; i < leaves.Length; i++) yield return new(paths[i], leaves[i]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    string DescribePaths() => paths.Length == 0 ? "(none)" : string.Join(", ", paths.Select(p => $"'{p}'"));

    /// <summary>One line per leaf: path, shape and dtype.</summary>
    public override string ToString() => Structure.ToString();
}
