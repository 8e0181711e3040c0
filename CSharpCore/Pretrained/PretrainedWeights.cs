using Functional.Layers;
using Functional.Training;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Pretrained;

/// <summary>
/// Loads weights trained in PyTorch (or published on Hugging Face) into a network: each of our
/// layers that has variables takes the tensors of one PyTorch module, renamed and converted to
/// our layouts (see the layer kinds below), cast to the dtype of the variable it replaces.
/// Which module feeds which layer: by default in order (our layers in evaluation order, the
/// checkpoint's modules in the order it lists their tensors, which for a PyTorch state dict is
/// registration order; the counts must agree), or a map from our layer paths (as
/// <see cref="Model.Summary"/> prints them: "dense_1", "block/conv2d") to module names
/// ("features.0"), which loads only the layers it names (e.g. a pretrained backbone under a new head).
/// </summary>
/// <remarks>Layer kinds: Dense (<c>nn.Linear</c>), Conv1D/Conv2D (<c>nn.Conv1d/2d</c>),
/// Conv2DTranspose (<c>nn.ConvTranspose2d</c>), Embedding, LayerNorm, BatchNorm (running
/// statistics become its state; match PyTorch's epsilon, 1e-5, when you build it), LSTM, GRU and
/// SimpleRNN (<c>nn.LSTM/GRU/RNN</c> with one layer, <c>batch_first=True</c> as ours are).
/// Every tensor is checked against the shape of the variable it replaces before anything
/// changes: a mismatch names the layer, the module, the tensor and both shapes.</remarks>
public static class PretrainedWeights
{
    /// <summary>New variables for <paramref name="network"/> (per-example input shape
    /// <paramref name="inputShape"/>): <paramref name="variables"/> with the layers that
    /// <paramref name="modules"/> names (all, in order, when null) replaced from
    /// <paramref name="checkpoint"/>. The returned trees share the tensors of the layers not loaded.</summary>
    /// <exception cref="InvalidDataException">The checkpoint lacks a tensor, or one has the wrong shape (the message names both sides).</exception>
    /// <exception cref="NotSupportedException">A layer kind without a PyTorch counterpart is to be loaded.</exception>
    public static Variables Load(Checkpoint checkpoint, ILayer network, long[] inputShape, Variables variables,
        IReadOnlyDictionary<string, string>? modules = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(variables);
        var layers = LayersWithVariables(network, inputShape, variables);
        var assignment = Assign(checkpoint, layers, modules);
        var wanted = assignment.Select(a => a.Module).ToHashSet(StringComparer.Ordinal);
        var tensors = checkpoint.Read(name => wanted.Contains(ModuleOf(name)));
        var replaced = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            using (var scope = torch.NewDisposeScope())
            {
                foreach (var (layer, path, module) in assignment)
                    Convert(checkpoint, layer, path, module, tensors, variables, replaced);
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
    /// the old ones are disposed. Optimizer state is kept (reset it by compiling a new model if the
    /// weights change meaning).</summary>
    public static void LoadInto(Model model, string path, IReadOnlyDictionary<string, string>? modules = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var checkpoint = Checkpoint.Open(path);
        Variables? loaded = null;
        model.ReadState(state => loaded = Load(checkpoint, model.Network, model.InputShape, new Variables(state.Params, state.ModelState), modules));
        model.RestoreVariables(loaded!.Params, loaded.State);
    }

    /// <summary>The module a tensor belongs to: its name up to the last "." ("" at the top).</summary>
    static string ModuleOf(string tensorName)
    {
        int dot = tensorName.LastIndexOf('.');
        return dot < 0 ? "" : tensorName[..dot];
    }

    sealed record LayerCall(ILayer Layer, string Path, string Label);

    /// <summary>The layer calls whose variables are not empty, in evaluation order.</summary>
    static List<LayerCall> LayersWithVariables(ILayer network, long[] inputShape, Variables variables)
    {
        var calls = new List<LayerCall>();
        NetworkWalk.Visit(network, new Collector(calls), 0, inputShape);
        return [.. calls.Where(c => Own(variables.Params, c.Path).Count + Own(variables.State, c.Path).Count > 0)];
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

    static List<(ILayer Layer, string Path, string Module)> Assign(Checkpoint checkpoint, List<LayerCall> layers, IReadOnlyDictionary<string, string>? modules)
    {
        var inCheckpoint = checkpoint.Tensors.Select(t => ModuleOf(t.Name)).Distinct().ToList();
        if (modules is null)
        {
            if (inCheckpoint.Count != layers.Count)
                throw new InvalidDataException(
                    $"{checkpoint.Path} has {inCheckpoint.Count} modules with tensors ({string.Join(", ", inCheckpoint.Select(m => $"'{m}'"))}) " +
                    $"but the network has {layers.Count} layers with variables ({string.Join(", ", layers.Select(l => l.Label))}): " +
                    "pass a map from layer paths to module names.");
            return [.. layers.Select((l, i) => (l.Layer, l.Path, inCheckpoint[i]))];
        }
        var byPath = layers.ToDictionary(l => l.Path, StringComparer.Ordinal);
        var assignment = new List<(ILayer, string, string)>();
        foreach (var (path, module) in modules)
        {
            if (!byPath.TryGetValue(path, out var call))
                throw new ArgumentException(
                    $"The network has no layer with variables at '{path}' (it has {string.Join(", ", layers.Select(l => $"'{l.Path}'"))}).", nameof(modules));
            if (!inCheckpoint.Contains(module))
                throw new InvalidDataException($"{checkpoint.Path} has no module '{module}' (it has {string.Join(", ", inCheckpoint.Select(m => $"'{m}'"))}).");
            assignment.Add((call.Layer, path, module));
        }
        return assignment;
    }

    static void Convert(Checkpoint checkpoint, ILayer layer, string path, string module, Dictionary<string, Tensor> tensors,
        Variables variables, Dictionary<string, Tensor> replaced)
    {
        var label = $"'{NetworkWalk.Label(layer, path)}'";
        Tensor Get(string name)
        {
            var full = module.Length == 0 ? name : $"{module}.{name}";
            return tensors.TryGetValue(full, out var t) ? t
                : throw new InvalidDataException($"{checkpoint.Path} has no '{full}' for layer {label} (module '{module}').");
        }
        foreach (var recipe in TorchLayouts.For(layer, label))
        {
            var tree = recipe.IsState ? variables.State : variables.Params;
            var target = path.Length == 0 ? recipe.Variable : $"{path}/{recipe.Variable}";
            if (!tree.TryGetLeaf(target, out var current)) continue; // e.g. a Dense without bias
            var value = recipe.Make(Get);
            if (!value.shape.SequenceEqual(current.shape))
                throw new InvalidDataException(
                    $"{checkpoint.Path}: module '{module}' gives layer {label} a '{recipe.Variable}' of shape ({string.Join(", ", value.shape)}), " +
                    $"but the layer's is ({string.Join(", ", current.shape)}).");
            replaced[(recipe.IsState ? StateKey : ParamsKey) + target] = value.to_type(current.dtype).contiguous();
        }
    }

    const string ParamsKey = "params:", StateKey = "state:";

    /// <summary>The tree with the leaves loaded for it (keyed by <paramref name="kind"/> and path) in place of its own.</summary>
    static TensorTree Replace(TensorTree tree, Dictionary<string, Tensor> replaced, string kind) =>
        tree.WithLeaves([.. tree.Paths.Select((p, i) => replaced.TryGetValue(kind + p, out var t) ? t : tree.Leaves[i])]);
}
