using System.Text.Json.Nodes;
using Functional.Layers;
using Functional.Optimizers;
using Functional.Training;
using Functional.Trees;

namespace Functional.ModelOptimization;

/// <summary>What the model optimizations share: a model rebuilt around a rewritten network, and
/// rewrites of a network's description that know each layer's variables path.</summary>
static class ModelRewrite
{
    /// <summary>A new model like <paramref name="model"/> (losses, metrics, precision, seed,
    /// frozen layers, class names) with <paramref name="network"/> (default: the same) and
    /// <paramref name="optimizer"/>, holding <paramref name="state"/> (whose tensors it takes) or,
    /// when null, fresh variables.</summary>
    public static Model Rebuild(Model model, GradientTransformation optimizer, ILayer? network = null, TrainState? state = null)
    {
        network ??= model.Network;
        var rebuilt = model.OutputNames is null
            ? new Model(network, model.InputShape, model.Loss, optimizer, model.Metrics, model.State.Seed, model.Precision)
            : new Model((FunctionalModel)network, model.Outputs, optimizer, model.State.Seed, model.Precision);
        try
        {
            var frozen = model.FrozenPaths.Where(path => rebuilt.State.Params.Paths.Any(p => TreePath.IsUnder(p, path))).ToArray();
            if (frozen.Length > 0) rebuilt.Freeze(frozen);
            rebuilt.ClassNames = model.ClassNames;
            if (state is not null) rebuilt.Resume(state);
            return rebuilt;
        }
        catch
        {
            rebuilt.Dispose();
            throw;
        }
    }

    /// <summary>A layer of a network as a rewrite sees it: its variables path, when its parent
    /// is a Sequential its neighbours (the parent's layers with their paths, and its index), and
    /// whether its parent calls it through <see cref="LayerCall"/> (so calibration sees its calls;
    /// a residual connection calls its inner layer directly).</summary>
    public sealed record Site(string Path, ILayer Layer, IReadOnlyList<(string Path, ILayer Layer)>? Siblings, int Index, bool Observed = true);

    /// <summary>
    /// A copy of a network's description in which each layer (not a Sequential or functional
    /// model, whose layers are visited instead) is replaced by the description
    /// <paramref name="replace"/> returns for it — or kept, when it returns null.
    /// </summary>
    public static ILayer Replace(ILayer network, Func<Site, JsonObject?> replace)
    {
        // Through text, as a saved description is read: numbers built in memory keep the .NET
        // type they were made with, which the readers of descriptions do not convert.
        var json = Reparsed(LayerRegistry.ToJson(network));
        return LayerRegistry.FromJson(Reparsed(Visit(json, new Site("", network, null, 0), replace)));
    }

    static JsonObject Reparsed(JsonObject json) => (JsonObject)JsonNode.Parse(json.ToJsonString())!;

    /// <summary>The same layer with its configuration changed by <paramref name="change"/>,
    /// through its description (and through text, as <see cref="Replace"/>).</summary>
    public static ILayer Reconfigured(ILayer layer, Action<JsonObject> change)
    {
        var json = Reparsed(LayerRegistry.ToJson(layer));
        change(json["config"]!.AsObject());
        return LayerRegistry.FromJson(Reparsed(json));
    }

    /// <summary>The activation of a Dense or convolution layer.</summary>
    public static ActivationFunction ActivationOf(ILayer layer) => layer is Dense d ? d.Activation : ((Convolution)layer).Activation;

    /// <summary>The axis of a kernel's output units: Dense and recurrent kernels are (in, units),
    /// convolution kernels (filters, channels, k...).</summary>
    public static int OutputAxis(TorchSharp.torch.Tensor kernel) => kernel.dim() == 2 ? 1 : 0;

    /// <summary>A copy of <paramref name="t"/> that outlives the current dispose scope.</summary>
    public static TorchSharp.torch.Tensor Own(TorchSharp.torch.Tensor t) => t.detach().clone().DetachFromDisposeScope();

    /// <summary>A copy of <paramref name="tree"/> that outlives the current dispose scope.</summary>
    public static TensorTree Own(TensorTree tree) => tree.Map(Own);

    /// <summary>A Dense or convolution's parameters, "kernel" and (when there is one) "bias", as copies of their own.</summary>
    public static TensorTree OwnKernelAndBias(TorchSharp.torch.Tensor kernel, TorchSharp.torch.Tensor? bias) =>
        bias is null ? TensorTree.Of(("kernel", Own(kernel))) : TensorTree.Of(("kernel", Own(kernel)), ("bias", Own(bias)));

    /// <summary>Every layer a <see cref="Replace"/> would visit.</summary>
    public static IReadOnlyList<Site> Sites(ILayer network)
    {
        var sites = new List<Site>();
        Replace(network, site =>
        {
            sites.Add(site);
            return null;
        });
        return sites;
    }

    static JsonObject Visit(JsonObject spec, Site site, Func<Site, JsonObject?> replace)
    {
        var config = spec["config"] as JsonObject;
        switch (site.Layer)
        {
            case Sequential sequential when config is not null && config["layers"] is JsonArray layers:
                {
                    // The variables paths are the names the Sequential gives its layers.
                    var siblings = sequential.Layers.Select(l => (TreePath.Join(site.Path, l.Name), l.Layer)).ToArray();
                    for (int i = 0; i < layers.Count; i++)
                    {
                        var child = (JsonObject)layers[i]!;
                        var visited = Visit(child, new Site(siblings[i].Item1, siblings[i].Layer, siblings, i), replace);
                        if (!ReferenceEquals(visited, child)) layers[i] = visited;
                    }
                    return spec;
                }
            case FunctionalModel when config is not null && config["layers"] is JsonObject named:
                foreach (var name in named.Select(kv => kv.Key).ToArray())
                {
                    var child = (JsonObject)named[name]!;
                    var visited = Visit(child, new Site(TreePath.Join(site.Path, name), LayerRegistry.FromJson(child), null, 0), replace);
                    if (!ReferenceEquals(visited, child)) named[name] = visited;
                }
                return spec;
            case Residual when config is not null && config["inner"] is JsonObject inner:
                {
                    // The inner layer's variables are the residual's own.
                    var visited = Visit(inner, new Site(site.Path, LayerRegistry.FromJson(inner), null, 0, Observed: false), replace);
                    if (!ReferenceEquals(visited, inner)) config["inner"] = visited;
                    return spec;
                }
            default:
                return replace(site) ?? spec;
        }
    }

    /// <summary>The calls of a network's layers (composites seen through), in evaluation order:
    /// each layer with its variables path.</summary>
    public static IReadOnlyList<(string Path, ILayer Layer)> Calls(ILayer network, long[] inputShape)
    {
        var calls = new List<(string, ILayer)>();
        NetworkWalk.Visit(network, new Collector(calls), 0, inputShape);
        return calls;
    }

    sealed class Collector(List<(string, ILayer)> calls) : ILayerVisitor<int>
    {
        public int Layer(ILayer layer, int input, long[] inputShape, string path)
        {
            calls.Add((path, layer));
            return input;
        }

        public int Merge(string kind, int axis, IReadOnlyList<int> parts, IReadOnlyList<long[]> shapes, string path) => 0;
    }
}
