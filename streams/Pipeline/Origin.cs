namespace Functional.Streams;

/// <summary>
/// Where an element came from: its source (a file path, or a description such as
/// "generator") and the index of its first row there. Errors raised while an element is
/// processed name its origin.
/// </summary>
public readonly record struct Origin(string Source, long Row)
{
    /// <summary>"data/train.parquet, row 4096".</summary>
    public override string ToString() => $"{Source}, row {Row}";
}

/// <summary>An element with its origin, as it travels between stages.</summary>
internal readonly record struct Sourced<T>(T Value, Origin Origin);
