using Functional.Layers;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.ModelOptimization;

/// <summary>
/// The inference-time rewrite quantization starts from: in a Sequential, each BatchNorm right
/// after a Dense or convolution without activation is folded into its kernel and bias
/// (<c>W' = W g</c>, <c>b' = (b - mean) g + offset</c> per output channel, with
/// <c>g = scale / sqrt(variance + epsilon)</c>), and an activation layer right after such a layer
/// becomes its activation, so that the block is one layer (one integer kernel once quantized).
/// Outputs in inference mode are unchanged (up to float rounding).
/// </summary>
static class BatchNormFolding
{
    /// <summary>The folded network and its variables (new tensors); null when nothing folds.</summary>
    public static (Sequential Network, Variables Variables)? Fold(ILayer network, long[] inputShape, Variables variables)
    {
        if (network is not Sequential sequential) return null;
        var layers = sequential.Layers;
        var shapes = new List<long[]> { inputShape };
        foreach (var (_, l) in layers) shapes.Add(l.OutputShape(shapes[^1]));
        var folded = new List<(ILayer Layer, TensorTree Params, TensorTree State)>();
        bool changed = false;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        for (int i = 0; i < layers.Count; i++)
        {
            var (name, layer) = layers[i];
            var (p, s) = (variables.Params.Select(name), variables.State.Select(name));
            if (layer is not (Dense or Convolution) || ModelRewrite.ActivationOf(layer).Name != "linear")
            {
                folded.Add((layer, ModelRewrite.Own(p), ModelRewrite.Own(s)));
                continue;
            }
            var (kernel, bias) = (p["kernel"], p.TryGetLeaf("bias", out var b) ? b : null);
            var activation = ActivationFunction.Linear;
            if (i + 1 < layers.Count && layers[i + 1].Layer is BatchNorm norm && (layer is Convolution || shapes[i + 1].Length == 1))
            {
                var next = layers[i + 1].Name;
                var (np, ns) = (variables.Params.Select(next), variables.State.Select(next));
                var g = np["scale"] * (ns["variance"] + norm.Epsilon).rsqrt();
                int axis = layer is Dense ? 1 : 0;
                var shape = Enumerable.Repeat(1L, (int)kernel.dim()).ToArray();
                shape[axis] = g.shape[0];
                kernel = kernel * g.view(shape);
                bias = ((bias ?? zeros_like(g)) - ns["mean"]) * g + np["offset"];
                i++;
            }
            if (i + 1 < layers.Count && layers[i + 1].Layer is Activation { Function: var f } && IsElementwiseBuiltIn(f))
            {
                activation = f;
                i++;
            }
            if (ReferenceEquals(kernel, p["kernel"]) && activation == ActivationFunction.Linear)
            {
                folded.Add((layer, ModelRewrite.Own(p), ModelRewrite.Own(s)));
                continue;
            }
            changed = true;
            var rebuilt = ModelRewrite.Reconfigured(layer, config =>
            {
                config["activation"] = activation.Name;
                config["use_bias"] = bias is not null;
            });
            folded.Add((rebuilt, ModelRewrite.OwnKernelAndBias(kernel, bias), ModelRewrite.Own(s)));
        }
        if (!changed)
        {
            foreach (var (_, p, s) in folded)
            {
                p.Dispose();
                s.Dispose();
            }
            return null;
        }
        var result = new Sequential(folded.Select(f => f.Layer), sequential.Name);
        var names = result.Layers.Select(l => l.Name).ToArray();
        return (result, new Variables(TensorTree.Node([.. folded.Select((f, k) => (names[k], f.Params))]),
            TensorTree.Node([.. folded.Select((f, k) => (names[k], f.State))])));
    }

    /// <summary>Activations a layer can take over by name (softmax mixes units: it stays a layer).</summary>
    static bool IsElementwiseBuiltIn(ActivationFunction f) =>
        ActivationFunction.BuiltIn.TryGetValue(f.Name, out var known) && ReferenceEquals(known, f) && f.Name is not ("softmax" or "log_softmax");
}
