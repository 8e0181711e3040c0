using Functional.Layers;

namespace Functional.TensorBoard;

/// <summary>
/// A network as a TensorBoard graph (a GraphDef), from the network's walk: one node per layer
/// call, named by its path so TensorBoard groups nested models (a shared layer's later calls get
/// "_call2", ...), with an edge from each input. Merges are nodes too.
/// </summary>
static class ModelGraph
{
    public static Tensorboard.GraphDef Of(ILayer network, IReadOnlyList<long[]> inputShapes)
    {
        var graph = new Tensorboard.GraphDef();
        var builder = new Nodes(graph);
        var inputs = inputShapes.Select((_, i) => builder.Add(inputShapes.Count == 1 ? "input" : $"input_{i}", "Input")).ToArray();
        NetworkWalk.VisitAll(network, builder, inputs, inputShapes);
        return graph;
    }

    sealed class Nodes(Tensorboard.GraphDef graph) : ILayerVisitor<string>
    {
        readonly Dictionary<string, int> calls = new(StringComparer.Ordinal);

        public string Add(string name, string op, params string[] inputs)
        {
            var node = new Tensorboard.NodeDef { Name = Unique(name), Op = op };
            node.Input.AddRange(inputs);
            graph.Node.Add(node);
            return node.Name;
        }

        string Unique(string name) => (calls[name] = calls.GetValueOrDefault(name) + 1) == 1 ? name : $"{name}_call{calls[name]}";

        public string Layer(ILayer layer, string input, long[] inputShape, string path) =>
            Add(NetworkWalk.Label(layer, path), LayerRegistry.KindOf(layer), input);

        public string Merge(string kind, int axis, IReadOnlyList<string> parts, IReadOnlyList<long[]> shapes, string path) =>
            Add(path, kind == "add" ? "Add" : "Concat", [.. parts]);
    }
}
