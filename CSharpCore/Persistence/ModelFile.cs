using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Training;
using TorchSharp;

namespace Functional.Persistence;

/// <summary>
/// A saved model: a folder holding the versioned description of the network and its input shape
/// (<c>model.*.json</c>) and its state (<c>state.*.safetensors</c>: parameters, model state and,
/// unless left out, optimizer state, step and seed), named by a <c>manifest.json</c> with their
/// sizes and checksums (see <see cref="SavedFolder"/>). The folder is atomic as a whole: killed
/// at any moment, a save leaves the previous save or the new one, and Load reads exactly one.
/// </summary>
public static class ModelFile
{
    /// <summary>The description format this version writes and the newest it reads.</summary>
    public const int FormatVersion = 1;
    const string Format = "functional.model", DescriptionPart = "model", StatePart = "state";
    // The layout before manifests (read, never written): one fixed name per file.
    const string LegacyDescription = "model.json", LegacyState = "state.safetensors";

    /// <summary>Saves <paramref name="model"/> into <paramref name="folder"/> (created if needed),
    /// with your own string <paramref name="metadata"/> (read back with <see cref="ReadMetadata"/>)
    /// and <paramref name="assets"/>: files that belong with the network (a text vectorizer's
    /// vocabulary, class lists), named by lower-case letters, digits and '_', saved in the same
    /// generation as the weights and read back with <see cref="ReadAssets"/>. A later save without
    /// them leaves them out: save everything that belongs together each time.</summary>
    public static void Save(string folder, Model model, bool includeOptimizerState = true, IReadOnlyDictionary<string, string>? metadata = null,
        IReadOnlyDictionary<string, byte[]>? assets = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var (name, bytes) in assets ?? new Dictionary<string, byte[]>())
        {
            if (name.Length == 0 || !name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
                throw new ArgumentException($"Asset name '{name}': use lower-case letters, digits and '_'.", nameof(assets));
            if (bytes is null) throw new ArgumentException($"Asset '{name}' has no bytes (null).", nameof(assets));
        }
        var description = new JsonObject
        {
            ["format"] = Format,
            ["format_version"] = FormatVersion,
            ["network"] = LayerRegistry.ToJson(model.Network),
            ["metadata"] = new JsonObject([.. (metadata ?? new Dictionary<string, string>()).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
        };
        // A model fed by name takes its input shapes from its graph; one fed a tensor saves its own.
        if (model.InputNames is null) description["input_shape"] = new JsonArray([.. model.InputShape.Select(d => (JsonNode)d)]);
        else description["named"] = true;
        if (model.Precision != PrecisionPolicy.Float32) description["precision"] = model.Precision.Name;
        if (model.ClassNames is { } names) description["class_names"] = new JsonArray([.. names.Select(n => (JsonNode)n)]);
        if (model.FrozenPaths.Count > 0) description["frozen"] = new JsonArray([.. model.FrozenPaths.Select(p => (JsonNode)p)]);
        if (TrainingDescription.Of(model) is { } training) description["training"] = training;
        var json = Encoding.UTF8.GetBytes(description.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        model.ReadState(state =>
        {
            var saved = includeOptimizerState ? state : state with { OptState = Trees.TensorTree.Empty };
            SavedFolder.Save(folder, [
                new SavedFolder.Part(DescriptionPart, "json", stream => stream.Write(json)),
                new SavedFolder.Part(StatePart, "safetensors", stream => TrainStateFile.Write(stream, saved, withChecksum: false)),
                .. (assets ?? new Dictionary<string, byte[]>()).Select(a => new SavedFolder.Part(AssetPrefix + a.Key, "asset", stream => stream.Write(a.Value)))]);
        });
    }

    const string AssetPrefix = "asset_";

    /// <summary>The assets <paramref name="names"/> (every asset when none are named) saved with
    /// the model (see <see cref="Save"/>), from one reading of the manifest: all of them from the
    /// same save, checked against it.</summary>
    /// <exception cref="InvalidDataException">The folder holds no saved model, the model has no such asset, or a file is damaged or gone.</exception>
    public static IReadOnlyDictionary<string, byte[]> ReadAssets(string folder, params string[] names)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(names);
        if (!SavedFolder.HasManifest(folder)) throw new InvalidDataException($"{folder} holds no saved model: {SavedFolder.ManifestName} is missing.");
        var files = SavedFolder.Resolve(folder);
        var saved = files.Keys.Where(k => k.StartsWith(AssetPrefix, StringComparison.Ordinal)).Select(k => k[AssetPrefix.Length..]).ToArray();
        var read = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var name in names.Length > 0 ? names : saved)
        {
            if (!files.TryGetValue(AssetPrefix + name, out var path))
                throw new InvalidDataException($"{folder}: the saved model has no asset '{name}'; it has {(saved.Length > 0 ? string.Join(", ", saved) : "none")}.");
            try { read[name] = File.ReadAllBytes(path); }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new InvalidDataException($"{path} is gone: the folder was saved again while it was read; read it again.", e);
            }
        }
        return read;
    }

    /// <summary>The metadata saved with the model (empty when none).</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string folder)
    {
        var description = ReadDescription(Files(folder).Description, out var path);
        if (description["metadata"] is null) return new Dictionary<string, string>();
        if (description["metadata"] is not JsonObject metadata) throw new InvalidDataException($"{path}: metadata is not an object.");
        return metadata.ToDictionary(kv => kv.Key,
            kv => kv.Value is JsonValue v && v.TryGetValue<string>(out var text) ? text : throw new InvalidDataException($"{path}: metadata '{kv.Key}' is not a string."));
    }

    /// <summary>The network, its input shape and its saved state, rebuilt without the code that
    /// built them. The input shape is null for a model fed named inputs (its network, a
    /// <see cref="FunctionalModel"/>, lists their shapes).</summary>
    /// <param name="folder">The saved model.</param>
    /// <param name="maxBytes">The most the network's fresh variables may take while they are
    /// checked against the weights (by default what the weights file holds).</param>
    /// <exception cref="InvalidDataException">A missing, damaged or invalid file, an unknown layer type, a newer
    /// format, weights that do not fit the network, or a description that would take more than <paramref name="maxBytes"/>.</exception>
    public static (ILayer Network, long[]? InputShape, TrainState State) Load(string folder, long? maxBytes = null)
    {
        var (network, inputShape, state, _) = LoadConsistent(folder, maxBytes);
        return (network, inputShape, state);
    }

    /// <summary>One save's network, input shape, state and description, read again when a save
    /// by another process replaced the files while they were read.</summary>
    static (ILayer Network, long[]? InputShape, TrainState State, JsonObject Description) LoadConsistent(string folder, long? maxBytes)
    {
        ArgumentNullException.ThrowIfNull(folder);
        for (int attempt = 1; ; attempt++)
        {
            long generation = SavedFolder.Generation(folder);
            try
            {
                return LoadOnce(folder, maxBytes);
            }
            catch (Exception e) when (e is IOException or InvalidDataException && attempt < 3 && SavedFolder.Generation(folder) != generation)
            {
                // A save by another process replaced the files while they were read: read the new save.
            }
        }
    }

    static (ILayer Network, long[]? InputShape, TrainState State, JsonObject Description) LoadOnce(string folder, long? maxBytes)
    {
        var (descriptionPath, statePath) = Files(folder);
        var description = ReadDescription(descriptionPath, out var path);
        bool named = description["named"] is JsonValue n && n.TryGetValue<bool>(out var isNamed) && isNamed;
        var inputShape = named ? null : (description["input_shape"] as JsonArray ?? throw new InvalidDataException($"{path} has no input_shape."))
            .Select(d => d is JsonValue x && x.TryGetValue<long>(out var l) && l > 0 ? l : throw new InvalidDataException($"{path} has an invalid input_shape.")).ToArray();
        ILayer network;
        try { network = LayerRegistry.FromJson(description["network"], "$.network"); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new InvalidDataException($"{path}: $.network describes a layer that cannot be built: {e.Message}", e);
        }
        if (named && network is not FunctionalModel)
            throw new InvalidDataException($"{path}: a model fed by name needs a functional network; $.network is a '{LayerRegistry.KindOf(network)}'.");
        // Before any tensor is read or made: the description must fit the weights file's header.
        var (tensors, _, dataBytes) = SafeTensors.ReadHeader(statePath);
        long limit = maxBytes ?? dataBytes;
        if (dataBytes > limit) throw new InvalidDataException($"{statePath} holds {dataBytes} bytes of weights, more than maxBytes ({limit}).");
        RequireFits(folder, network, inputShape, tensors, limit);
        // A manifest verified every byte of the file already; the layout before manifests did not.
        var state = TrainStateFile.Load(statePath, verifyChecksum: !SavedFolder.HasManifest(folder));
        return (network, inputShape, state, description);
    }

    /// <summary>Builds the network's fresh variables (within <paramref name="limit"/> bytes) and
    /// compares them with the weights file's header.</summary>
    static void RequireFits(string folder, ILayer network, long[]? inputShape, IReadOnlyList<SafeTensors.TensorInfo> tensors, long limit)
    {
        var saved = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        try
        {
            using var scope = torch.NewDisposeScope();
            using var rng = new torch.Generator(0);
            Variables fresh;
            using (Runtime.TensorAllocation.Limit(limit, $"loading {folder}"))
            using (Runtime.TensorAllocation.ForShapes())
                fresh = inputShape is null ? ((FunctionalModel)network).Init(rng) : network.Init(rng, inputShape);
            foreach (var (prefix, tree) in new[] { ("params", fresh.Params), ("model_state", fresh.State) })
            {
                foreach (var (leafPath, t) in tree)
                {
                    var name = Trees.TreePath.Join(prefix, leafPath);
                    if (!saved.TryGetValue(name, out var info))
                        throw new InvalidDataException($"{folder}: the saved weights have no '{name}', which the saved network needs.");
                    if (!info.Shape.SequenceEqual(t.shape) || info.DType != t.dtype)
                        throw new InvalidDataException(
                            $"{folder}: the saved weights do not fit the saved network: '{name}' is ({string.Join(", ", info.Shape)}) {info.DType} where ({string.Join(", ", t.shape)}) {t.dtype} is expected.");
                }
                var extra = saved.Keys.Where(k => Trees.TreePath.IsUnder(k, prefix) && !tree.ContainsLeaf(Trees.TreePath.Relative(k, prefix))).FirstOrDefault();
                if (extra is not null) throw new InvalidDataException($"{folder}: the saved weights have '{extra}', which the saved network does not have.");
            }
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{folder}: the saved network cannot be built for its input shape within {limit} bytes: {e.Message}", e);
        }
    }

    /// <summary>The description and state files of the save in <paramref name="folder"/>: those its
    /// manifest names (verified), or the fixed names of the layout before manifests.</summary>
    static (string Description, string State) Files(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!SavedFolder.HasManifest(folder))
        {
            var legacy = Path.Combine(folder, LegacyDescription);
            if (!File.Exists(legacy)) throw new InvalidDataException($"{folder} holds no saved model: {SavedFolder.ManifestName} is missing.");
            return (legacy, Path.Combine(folder, LegacyState));
        }
        var files = SavedFolder.Resolve(folder);
        return (files.TryGetValue(DescriptionPart, out var d) ? d : throw new InvalidDataException($"{folder}: the manifest names no model description."),
                files.TryGetValue(StatePart, out var st) ? st : throw new InvalidDataException($"{folder}: the manifest names no state file."));
    }

    static readonly TrainState Nothing = new(Trees.TensorTree.Empty, Trees.TensorTree.Empty, Trees.TensorTree.Empty, 0, 0);

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    static JsonObject ReadDescription(string descriptionPath, out string path)
    {
        path = descriptionPath;
        JsonObject description;
        try
        {
            var bytes = File.ReadAllBytes(path);
            // Strings with invalid UTF-8 would otherwise fail later, when a value is read.
            StrictUtf8.GetCharCount(bytes);
            description = JsonNode.Parse(bytes, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) as JsonObject
                ?? throw new InvalidDataException($"{path} is not a JSON object.");
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException or DecoderFallbackException)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }
        if (description["format"] is not JsonValue f || !f.TryGetValue<string>(out var format) || format != Format)
            throw new InvalidDataException($"{path} does not describe a Functional model.");
        int version = description["format_version"] is JsonValue v && v.TryGetValue<int>(out var n) ? n : 0;
        if (version < 1) throw new InvalidDataException($"{path} has no valid format_version.");
        if (version > FormatVersion)
            throw new InvalidDataException($"{path} was written in format version {version}; this version of Functional reads up to {FormatVersion}.");
        return description;
    }

    /// <summary>A ready model: the saved network and state with your loss, optimizer and metrics
    /// (the optimizer's saved state is restored when it was saved and fits; frozen layers stay
    /// frozen).</summary>
    /// <exception cref="ArgumentException">The model was saved fed by name: use
    /// <see cref="LoadModel(string, IReadOnlyDictionary{string, OutputLoss}, GradientTransformation)"/>.</exception>
    public static Model LoadModel(string folder, LossFunction loss, GradientTransformation optimizer, IEnumerable<Metric>? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(optimizer);
        return Ready(folder, LoadConsistent(folder, null), optimizer, new Dictionary<string, OutputLoss> { [""] = new(loss, 1, metrics?.ToArray()) });
    }

    /// <summary>A ready model fed by name (see <see cref="Model(FunctionalModel, IReadOnlyDictionary{string, OutputLoss}, GradientTransformation, ulong, PrecisionPolicy?)"/>)
    /// with your losses and optimizer; otherwise as <see cref="LoadModel(string, LossFunction, GradientTransformation, IEnumerable{Metric}?)"/>.</summary>
    public static Model LoadModel(string folder, IReadOnlyDictionary<string, OutputLoss> outputs, GradientTransformation optimizer)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(optimizer);
        return Ready(folder, LoadConsistent(folder, null), optimizer, outputs);
    }

    /// <summary>A ready model with the optimizer, losses and metrics it was saved with (Keras's
    /// <c>load_model</c> after <c>compile</c>): they must be built in (no custom loss, metric or
    /// learning-rate schedule).</summary>
    /// <exception cref="InvalidOperationException">The model was saved with a custom part; pass
    /// them to <see cref="LoadModel(string, LossFunction, GradientTransformation, IEnumerable{Metric}?)"/>.</exception>
    public static Model LoadModel(string folder)
    {
        var saved = LoadConsistent(folder, null);
        if (saved.Description["training"] is not JsonObject training)
        {
            saved.State.DisposeExcept(Nothing);
            throw new InvalidOperationException(
                $"{folder} was saved without a training configuration (its loss, optimizer or a metric is not built in, or it predates them): " +
                "pass them to LoadModel(folder, loss, optimizer, metrics).");
        }
        (GradientTransformation, Dictionary<string, OutputLoss>) parts;
        try { parts = TrainingDescription.Build(training); }
        catch (InvalidDataException e)
        {
            saved.State.DisposeExcept(Nothing);
            throw new InvalidDataException($"{folder}: {e.Message}", e);
        }
        return Ready(folder, saved, parts.Item1, parts.Item2);
    }

    static Model Ready(string folder, (ILayer Network, long[]? InputShape, TrainState State, JsonObject Description) saved,
        GradientTransformation optimizer, IReadOnlyDictionary<string, OutputLoss> outputs)
    {
        var (network, inputShape, state, description) = saved;
        Model model;
        try
        {
            if (inputShape is null && outputs.ContainsKey(""))
                throw new ArgumentException(
                    $"{folder}: the saved model is fed by name (outputs {string.Join(", ", ((FunctionalModel)network).OutputNames)}): give an OutputLoss per output name.",
                    nameof(outputs));
            var precision = Precision(description, folder);
            if (inputShape is null)
                model = new Model((FunctionalModel)network, outputs, optimizer, state.Seed, precision);
            else if (outputs.Count == 1 && outputs.TryGetValue("", out var single))
                model = new Model(network, inputShape, single.Loss, optimizer, single.Metrics, state.Seed, precision);
            else
                throw new ArgumentException(
                    $"{folder}: the saved model is fed one tensor and has one unnamed output; give one loss (not {string.Join(", ", outputs.Keys.Select(k => $"'{k}'"))}).",
                    nameof(outputs));
        }
        catch
        {
            state.DisposeExcept(Nothing);
            throw;
        }
        try
        {
            model.ClassNames = ClassNames(description, folder);
            // The saved optimizer state has the frozen layout: freeze first.
            if (Strings(description, "frozen", folder) is { Length: > 0 } frozen) model.Freeze(frozen);
            // The saved optimizer state is restored when it fits the optimizer given (another
            // optimizer, or none saved, starts afresh).
            bool fits = state.OptState.Count > 0 && state.OptState.Structure.Equals(model.State.OptState.Structure);
            if (!fits) state.OptState.Dispose();
            model.Resume(fits ? state : state with { OptState = model.State.OptState.Clone() });
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException)
        {
            state.DisposeExcept(Nothing);
            model.Dispose();
            throw e as InvalidDataException ?? new InvalidDataException($"{folder}: the saved model does not fit together: {e.Message}", e);
        }
        return model;
    }

    /// <summary>The precision policy saved with a model (float32 when none is).</summary>
    static PrecisionPolicy Precision(JsonObject description, string folder)
    {
        if (description["precision"] is null) return PrecisionPolicy.Float32;
        var name = description["precision"] is JsonValue v && v.TryGetValue<string>(out var text) ? text
            : throw new InvalidDataException($"{folder}: the model description's precision is not a string.");
        return PrecisionPolicy.All.FirstOrDefault(p => p.Name == name)
            ?? throw new InvalidDataException($"{folder}: unknown precision policy '{name}' (known: {string.Join(", ", PrecisionPolicy.All.Select(p => p.Name))}).");
    }

    /// <summary>The class names saved with a model, or null.</summary>
    static string[]? ClassNames(JsonObject description, string folder) => Strings(description, "class_names", folder);

    /// <summary>A list of strings in the description, or null when absent.</summary>
    static string[]? Strings(JsonObject description, string field, string folder) => description[field] switch
    {
        null => null,
        JsonArray names => [.. names.Select((n, i) => n is JsonValue v && v.TryGetValue<string>(out var name) ? name
            : throw new InvalidDataException($"{folder}: {field}[{i}] is not a string."))],
        _ => throw new InvalidDataException($"{folder}: {field} is not an array."),
    };
}
