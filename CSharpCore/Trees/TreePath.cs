namespace Functional.Trees;

/// <summary>
/// Paths address the leaves of a <see cref="TensorTree"/>: segments joined by '/', e.g.
/// <c>"encoder/dense_1/kernel"</c>. The empty path is the root (a tree that is one tensor).
/// </summary>
public static class TreePath
{
    /// <summary>The path separator.</summary>
    public const char Separator = '/';

    /// <summary>Joins a parent path and a child segment or path; either may be empty.</summary>
    public static string Join(string parent, string child) =>
        parent.Length == 0 ? child : child.Length == 0 ? parent : parent + Separator + child;

    /// <summary>True when <paramref name="path"/> is <paramref name="prefix"/> or lies below it.</summary>
    public static bool IsUnder(string path, string prefix) =>
        prefix.Length == 0
        || path == prefix
        || (path.Length > prefix.Length && path[prefix.Length] == Separator && path.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>The part of <paramref name="path"/> below <paramref name="prefix"/> ("" when equal).</summary>
    public static string Relative(string path, string prefix) =>
        prefix.Length == 0 ? path : path.Length == prefix.Length ? "" : path[(prefix.Length + 1)..];

    /// <summary>Throws <see cref="ArgumentException"/> unless the path has no empty segment.</summary>
    public static void Validate(string path, string argumentName)
    {
        ArgumentNullException.ThrowIfNull(path, argumentName);
        if (path.Length == 0) return;
        foreach (var segment in path.Split(Separator))
            if (segment.Length == 0)
                throw new ArgumentException(
                    $"Tree path '{path}' has an empty segment; paths look like 'encoder/dense_1/kernel'.", argumentName);
    }
}
