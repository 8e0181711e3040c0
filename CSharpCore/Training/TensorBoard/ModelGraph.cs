using Functional.Layers;

namespace Functional.Training;

/// <summary>
/// A network as a TensorBoard graph (a GraphDef): one node per layer call, named by its path so
/// TensorBoard groups nested models, with an edge from each input. Merges are nodes too.
/// </summary>
static class ModelGraph
{
    public static Tensorboard.GraphDef Of(ILayer network)
    {
        var graph = new Tensorboard.GraphDef();
        string Add(string name, string op, params string[] inputs)
        {
            var node = new Tensorboard.NodeDef { Name = name, Op = op };
            node.Input.AddRange(inputs);
            graph.Node.Add(node);
            return name;
        }
        string Layer(ILayer layer, string input, string path)
        {
            switch (layer)
            {
                case Sequential s:
                    foreach (var (name, inner) in s.Layers) input = Layer(inner, input, Trees.TreePath.Join(path, name));
                    return input;
                case Residual r:
                    return Add(Trees.TreePath.Join(path, "add"), "Add", input, Layer(r.Inner, input, Trees.TreePath.Join(path, r.Inner.Name)));
                case FunctionalModel f:
                    var values = new Dictionary<GraphNode, string>(ReferenceEqualityComparer.Instance);
                    var calls = new Dictionary<string, int>(StringComparer.Ordinal);
                    string Unique(string name) => (calls[name] = calls.GetValueOrDefault(name) + 1) == 1 ? name : $"{name}_call{calls[name]}";
                    foreach (var node in f.Nodes)
                        values[node] = node switch
                        {
                            InputNode => input,
                            LayerNode l => Layer(l.Layer, values[l.Input.Node], Trees.TreePath.Join(path, Unique(f.LayerName(l.Layer)))),
                            MergeNode m => Add(Trees.TreePath.Join(path, Unique(m.Kind)), m.Kind == "add" ? "Add" : "Concat", [.. m.Parts.Select(p => values[p.Node])]),
                            _ => input,
                        };
                    return values[f.Outputs[0].Node];
                default:
                    return Add(path.Length == 0 ? layer.Name : path, layer is Layers.Layer known ? known.Kind : layer.GetType().Name, input);
            }
        }
        Layer(network, Add("input", "Input"), "");
        return graph;
    }
}
