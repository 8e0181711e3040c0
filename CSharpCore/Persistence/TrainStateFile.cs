using System.Globalization;
using Functional.Training;
using Functional.Trees;

namespace Functional.Persistence;

/// <summary>
/// A <see cref="TrainState"/> in one safetensors file: parameters, model state and optimizer
/// state under "params/", "model_state/" and "opt_state/", and the step, the seed and a format
/// version as metadata. Resuming from it continues training exactly.
/// </summary>
public static class TrainStateFile
{
    /// <summary>The format this version writes and the newest it reads.</summary>
    public const int FormatVersion = 1;
    const string Format = "functional.train_state";
    static readonly string[] Parts = ["params", "model_state", "opt_state"];

    /// <summary>Saves <paramref name="state"/> to <paramref name="path"/> atomically, with a checksum of its data.</summary>
    public static void Save(string path, TrainState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        SafeTensors.Save(path, Tree(state), Metadata(state));
    }

    /// <summary>Writes <paramref name="state"/> in this format to <paramref name="stream"/>
    /// (with the data checksum unless <paramref name="withChecksum"/> is false).</summary>
    public static void Write(Stream stream, TrainState state, bool withChecksum = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        SafeTensors.Write(stream, Tree(state), Metadata(state), withChecksum);
    }

    static TensorTree Tree(TrainState state) =>
        TensorTree.Node((Parts[0], state.Params), (Parts[1], state.ModelState), (Parts[2], state.OptState));

    static Dictionary<string, string> Metadata(TrainState state) => new()
    {
        ["format"] = Format,
        ["format_version"] = FormatVersion.ToString(CultureInfo.InvariantCulture),
        ["step"] = state.Step.ToString(CultureInfo.InvariantCulture),
        ["seed"] = state.Seed.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Loads a state saved by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">Not a valid file, not a training state, or written by a newer version.</exception>
    /// <param name="path">The file.</param>
    /// <param name="verifyChecksum">Whether to verify the data checksum (false when the caller verified the file).</param>
    public static TrainState Load(string path, bool verifyChecksum = true)
    {
        var (tree, metadata) = SafeTensors.Load(path, verifyChecksum);
        string Field(string key) => metadata.TryGetValue(key, out var value)
            ? value : throw new InvalidDataException($"{path} is not a training state: its metadata has no '{key}'.");
        if (Field("format") != Format) throw new InvalidDataException($"{path} holds '{Field("format")}', not a training state.");
        if (!int.TryParse(Field("format_version"), NumberStyles.None, CultureInfo.InvariantCulture, out var version) || version < 1)
            throw new InvalidDataException($"{path} has an invalid format version '{Field("format_version")}'.");
        if (version > FormatVersion)
            throw new InvalidDataException($"{path} was written in format version {version}; this version of Functional reads up to {FormatVersion}.");
        if (!long.TryParse(Field("step"), NumberStyles.None, CultureInfo.InvariantCulture, out var step)
            || !ulong.TryParse(Field("seed"), NumberStyles.None, CultureInfo.InvariantCulture, out var seed))
            throw new InvalidDataException($"{path} has an invalid step or seed.");
        foreach (var p in tree.Paths)
            if (!Parts.Any(part => TreePath.IsUnder(p, part) && p != part))
                throw new InvalidDataException($"{path} has a tensor '{p}' outside params/, model_state/ and opt_state/.");
        return new TrainState(tree.Select(Parts[0]), tree.Select(Parts[1]), tree.Select(Parts[2]), step, seed);
    }
}
