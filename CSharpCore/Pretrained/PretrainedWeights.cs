using Functional.Layers;
using Functional.Training;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Pretrained;

/// <summary>
/// Loads weights trained in PyTorch (or published on Hugging Face) into a network: each of our
/// layers that has variables takes the tensors of one PyTorch module, renamed and converted to
/// our layouts (see the layer kinds below), cast to the dtype of the variable it replaces, and
/// copied (the result shares no storage with the checkpoint or with another layer).
/// Which module feeds which layer: a map from our layer paths (as <see cref="Model.Summary"/>
/// prints them: "dense_1", "block/conv2d"; a network of one layer: its name) to module names
/// ("features.0"), which loads only the layers it names (e.g. a pretrained backbone under a new
/// head); or, for a PyTorch checkpoint only, in order: our layers in evaluation order, the
/// checkpoint's modules in state-dict order (module registration order), the counts agreeing.
/// Safetensors files and sharded indexes do not keep module order (their writers sort), so
/// they need the map.
/// </summary>
/// <remarks>Layer kinds: Dense (<c>nn.Linear</c>), Conv1D/Conv2D (<c>nn.Conv1d/2d</c>),
/// Conv2DTranspose (<c>nn.ConvTranspose2d</c>), Embedding, LayerNorm, BatchNorm (running
/// statistics become its state; match PyTorch's epsilon, 1e-5, and momentum, ours = 1 - PyTorch's),
/// LSTM, GRU and SimpleRNN (<c>nn.LSTM/GRU/RNN</c> with one layer, one direction,
/// <c>batch_first=True</c> as ours are). Every tensor of an assigned module must be used
/// (a bias for a layer without one, or a second LSTM layer's weights, is an error, not silently
/// dropped; BatchNorm's <c>num_batches_tracked</c> is the exception), and every converted tensor
/// must have the shape of the variable it replaces; errors name the file, the module, the layer
/// and both shapes, and nothing is half loaded.</remarks>
public static class PretrainedWeights
{
    /// <summary>Tensors PyTorch keeps that our layers have no use for.</summary>
    static readonly HashSet<string> Ignored = new(StringComparer.Ordinal) { "num_batches_tracked" };

    /// <summary>New variables for <paramref name="network"/> (per-example input shape
    /// <paramref name="inputShape"/>): <paramref name="variables"/> with the layers that
    /// <paramref name="modules"/> names (all, in order, when null) replaced from
    /// <paramref name="checkpoint"/>. The returned trees share the tensors of the layers not
    /// loaded; the loaded ones are new and the caller's.</summary>
    /// <exception cref="InvalidDataException">The checkpoint lacks a tensor, has one the layer does not use, or one of the wrong shape (the message names both sides).</exception>
    /// <exception cref="ArgumentException">The map names a path that is not a layer with variables, or it is missing where the checkpoint does not keep module order.</exception>
    /// <exception cref="NotSupportedException">A layer kind without a PyTorch counterpart is to be loaded.</exception>
    public static Variables Load(Checkpoint checkpoint, ILayer network, long[] inputShape, Variables variables,
        IReadOnlyDictionary<string, string>? modules = null) =>
        Load(checkpoint, network, [inputShape], variables, modules);

    /// <summary>As <see cref="Load(Checkpoint, ILayer, long[], Variables, IReadOnlyDictionary{string, string}?)"/>,
    /// for a network of several inputs (one per-example shape each).</summary>
    public static Variables Load(Checkpoint checkpoint, ILayer network, IReadOnlyList<long[]> inputShapes, Variables variables,
        IReadOnlyDictionary<string, string>? modules = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(inputShapes);
        ArgumentNullException.ThrowIfNull(variables);
        var layers = LayersWithVariables(network, inputShapes, variables);
        var assignment = Assign(checkpoint, layers, modules);
        var wanted = assignment.Select(a => a.Module).ToHashSet(StringComparer.Ordinal);
        var tensors = checkpoint.Read(name => wanted.Contains(ModuleOf(name)));
        var replaced = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            using (var scope = torch.NewDisposeScope())
            {
                foreach (var a in assignment)
                    Convert(checkpoint, a.Call, a.Module, tensors, variables, replaced);
                foreach (var t in replaced.Values) t.MoveToOuterDisposeScope();
            }
            return new Variables(Replace(variables.Params, replaced, ParamsKey), Replace(variables.State, replaced, StateKey));
        }
        catch
        {
            foreach (var t in replaced.Values) t.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Replaces <paramref name="model"/>'s variables with those loaded from the checkpoint
    /// at <paramref name="path"/> (see <see cref="Load(Checkpoint, ILayer, long[], Variables, IReadOnlyDictionary{string, string}?)"/>);
    /// the old ones of the loaded layers are disposed. Optimizer state is kept.</summary>
    public static void LoadInto(Model model, string path, IReadOnlyDictionary<string, string>? modules = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var checkpoint = Checkpoint.Open(path);
        Variables? loaded = null;
        var before = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        model.ReadState(state =>
        {
            before.UnionWith(state.Params.Leaves);
            before.UnionWith(state.ModelState.Leaves);
            loaded = Load(checkpoint, model.Network, model.InputShapes, new Variables(state.Params, state.ModelState), modules);
        });
        try
        {
            model.RestoreVariables(loaded!.Params, loaded.State);
        }
        catch
        {
            // The model kept its own: free what was loaded for it.
            foreach (var t in loaded!.Params.Leaves.Concat(loaded.State.Leaves).Where(t => !before.Contains(t))) t.Dispose();
            throw;
        }
    }

    /// <summary>The module a tensor belongs to: its name up to the last "." ("" at the top).</summary>
    static string ModuleOf(string tensorName)
    {
        int dot = tensorName.LastIndexOf('.');
        return dot < 0 ? "" : tensorName[..dot];
    }

    sealed record LayerCall(ILayer Layer, string Path, string Label);

    /// <summary>The layers whose variables are not empty, in evaluation order, each once (a
    /// shared layer is called several times, with one set of variables).</summary>
    static List<LayerCall> LayersWithVariables(ILayer network, IReadOnlyList<long[]> inputShapes, Variables variables)
    {
        var calls = new List<LayerCall>();
        NetworkWalk.VisitAll(network, new Collector(calls), [.. inputShapes.Select(_ => 0)], inputShapes);
        return [.. calls.DistinctBy(c => c.Path).Where(c => Own(variables.Params, c.Path).Count + Own(variables.State, c.Path).Count > 0)];
    }

    sealed class Collector(List<LayerCall> calls) : ILayerVisitor<int>
    {
        public int Layer(ILayer layer, int input, long[] inputShape, string path)
        {
            calls.Add(new LayerCall(layer, path, $"'{NetworkWalk.Label(layer, path)}'"));
            return input;
        }

        public int Merge(string kind, int axis, IReadOnlyList<int> parts, IReadOnlyList<long[]> shapes, string path) => 0;
    }

    static TensorTree Own(TensorTree tree, string path) => path.Length == 0 ? tree : tree.Select(path);

    static List<(LayerCall Call, string Module)> Assign(Checkpoint checkpoint, List<LayerCall> layers, IReadOnlyDictionary<string, string>? modules)
    {
        var inCheckpoint = checkpoint.Tensors.Select(t => ModuleOf(t.Name)).Distinct().ToList();
        string Listed(IEnumerable<string> names) => string.Join(", ", names.Select(m => $"'{m}'"));
        if (modules is null)
        {
            if (!checkpoint.KeepsModuleOrder)
                throw new ArgumentException(
                    $"{checkpoint.Path} does not keep module order (safetensors and sharded checkpoints list tensors sorted): " +
                    $"pass a map from layer paths ({Listed(layers.Select(KeyOf))}) to module names ({Listed(inCheckpoint)}).", nameof(modules));
            if (inCheckpoint.Count != layers.Count)
                throw new InvalidDataException(
                    $"{checkpoint.Path} has {inCheckpoint.Count} modules with tensors ({Listed(inCheckpoint)}) " +
                    $"but the network has {layers.Count} layers with variables ({string.Join(", ", layers.Select(l => l.Label))}): " +
                    "pass a map from layer paths to module names.");
            return [.. layers.Select((l, i) => (l, inCheckpoint[i]))];
        }
        var byKey = layers.ToDictionary(KeyOf, StringComparer.Ordinal);
        var assignment = new List<(LayerCall, string)>();
        foreach (var (key, module) in modules)
        {
            if (!byKey.TryGetValue(key, out var call))
                throw new ArgumentException($"The network has no layer with variables at '{key}' (it has {Listed(byKey.Keys)}).", nameof(modules));
            if (!inCheckpoint.Contains(module))
                throw new InvalidDataException($"{checkpoint.Path} has no module '{module}' (it has {Listed(inCheckpoint)}).");
            assignment.Add((call, module));
        }
        return assignment;
    }

    /// <summary>How a map names a layer: its path, or for a network of one layer (path ""), its name.</summary>
    static string KeyOf(LayerCall call) => call.Path.Length == 0 ? call.Layer.Name : call.Path;

    static void Convert(Checkpoint checkpoint, LayerCall call, string module, Dictionary<string, Tensor> tensors,
        Variables variables, Dictionary<string, Tensor> replaced)
    {
        string Full(string name) => module.Length == 0 ? name : $"{module}.{name}";
        var used = new HashSet<string>(StringComparer.Ordinal);
        Tensor Get(string name)
        {
            used.Add(Full(name));
            return tensors.TryGetValue(Full(name), out var t) ? t
                : throw new InvalidDataException($"{checkpoint.Path} has no '{Full(name)}' for layer {call.Label} (module '{module}').");
        }
        foreach (var recipe in TorchLayouts.For(call.Layer, call.Label))
        {
            var tree = recipe.IsState ? variables.State : variables.Params;
            var target = call.Path.Length == 0 ? recipe.Variable : $"{call.Path}/{recipe.Variable}";
            if (!tree.TryGetLeaf(target, out var current)) continue; // e.g. a Dense without bias: its module's bias is left over below
            Tensor value;
            try { value = recipe.Make(Get); }
            catch (Exception e) when (e is not InvalidDataException)
            {
                throw new InvalidDataException(
                    $"{checkpoint.Path}: module '{module}' does not fit layer {call.Label} ({LayerRegistry.KindOf(call.Layer)}): {e.Message}", e);
            }
            if (!value.shape.SequenceEqual(current.shape))
                throw new InvalidDataException(
                    $"{checkpoint.Path}: module '{module}' gives layer {call.Label} a '{recipe.Variable}' of shape ({string.Join(", ", value.shape)}), " +
                    $"but the layer's is ({string.Join(", ", current.shape)}).");
            replaced[(recipe.IsState ? StateKey : ParamsKey) + target] = value.to_type(current.dtype, copy: true).contiguous();
        }
        var prefix = module.Length == 0 ? "" : module + ".";
        var unused = tensors.Keys.Where(n => ModuleOf(n) == module && !used.Contains(n) && !Ignored.Contains(n[prefix.Length..])).ToArray();
        if (unused.Length > 0)
            throw new InvalidDataException(
                $"{checkpoint.Path}: layer {call.Label} ({LayerRegistry.KindOf(call.Layer)}) has no use for {string.Join(", ", unused.Select(n => $"'{n}'"))} " +
                $"of module '{module}' (a bias for a layer without one, or a second layer or direction of a recurrent module?).");
    }

    const string ParamsKey = "params:", StateKey = "state:";

    /// <summary>The tree with the leaves loaded for it (keyed by <paramref name="kind"/> and path) in place of its own.</summary>
    static TensorTree Replace(TensorTree tree, Dictionary<string, Tensor> replaced, string kind) =>
        tree.WithLeaves([.. tree.Paths.Select((p, i) => replaced.TryGetValue(kind + p, out var t) ? t : tree.Leaves[i])]);
}
