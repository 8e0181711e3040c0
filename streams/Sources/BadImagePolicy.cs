namespace Functional.Streams;

/// <summary>What decoding does with a file that is not a readable image (damaged, truncated, not an image).</summary>
public enum BadImagePolicy
{
    /// <summary>Stop with an error naming the file.</summary>
    Fail,
    /// <summary>Leave it out and count it (the decode stage's Dropped counter).</summary>
    Skip,
}
