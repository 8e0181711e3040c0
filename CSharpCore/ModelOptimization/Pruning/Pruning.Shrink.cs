using Functional.Layers;
using Functional.Optimizers;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.ModelOptimization;

public static partial class Pruning
{
    /// <summary>
    /// The physically smaller network that structured pruning (<see cref="PruningStructure.Units"/>)
    /// made: every Dense or convolution layer of a <see cref="Sequential"/> network keeps only its
    /// units and channels with a weight left, the layers after it (batch norm, pooling,
    /// activations, dropout, flatten, up to the next Dense or convolution, whose kernel loses the
    /// matching inputs) follow, and what a removed unit still passed on (its activation of zero,
    /// shifted by a batch norm) is folded into the next layer's bias. The outputs are those of
    /// <see cref="Strip"/>, the model is smaller and faster, and Summary, save, ONNX export and
    /// Compile see the new sizes. A layer keeps its size, with its pruned units at zero, when its
    /// outputs reach no Dense or convolution through such layers (the last layer), or when the
    /// removal could not be exact (a softmax over the units; a padded convolution after units that
    /// pass on a value other than zero). Loss, metrics, frozen layers, class names, step and seed
    /// are kept; the optimizer state starts afresh (the shapes changed).
    /// </summary>
    /// <exception cref="ArgumentException">The model does not prune, or its network is not a Sequential.</exception>
    public static Training.Model Shrink(Training.Model model, GradientTransformation? optimizer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Network is not Sequential sequential)
            throw new ArgumentException($"Shrink rewrites Sequential networks; model '{model.Network.Name}' is a {model.Network.GetType().Name}: use Strip.", nameof(model));
        optimizer ??= inners.TryGetValue(model.BaseOptimizer, out var inner) ? inner : null;
        TensorTree? masks = null;
        Variables? variables = null;
        model.ReadState(state =>
        {
            if (Masks(state.OptState) is not { } m) return;
            masks = m.Clone();
            variables = new Variables(state.Params.Clone(), state.ModelState.Clone());
        });
        if (masks is null || variables is null)
            throw new ArgumentException($"Model '{model.Network.Name}' does not prune: its optimizer state holds no pruning masks.", nameof(model));
        using (masks)
        using (var parameters = variables.Params)
        using (var modelState = variables.State)
        {
            if (optimizer is null)
                throw new ArgumentException("The model's optimizer was not made by Pruning.Magnitude at its top level: pass the shrunk model's optimizer.", nameof(optimizer));
            var (network, shrunk) = new Rewriter(sequential, model.InputShape, variables, masks).Run();
            var result = ModelRewrite.Rebuild(model, optimizer, network);
            result.Resume(result.State with { Params = shrunk.Params, ModelState = shrunk.State, OptState = result.State.OptState.Clone(), Step = model.State.Step });
            return result;
        }
    }

    /// <summary>One pass over a Sequential's layers that removes the dead units of its Dense and
    /// convolution layers.</summary>
    sealed class Rewriter(Sequential network, long[] inputShape, Variables variables, TensorTree masks)
    {
        readonly IReadOnlyList<(string Name, ILayer Layer)> layers = network.Layers;
        readonly List<long[]> shapes = Shapes(network, inputShape);

        /// <summary>Units removed upstream, as seen at the next consumer's input: which features
        /// (axis 0 of the per-example activation) stay, and the constant values the removed ones
        /// held there.</summary>
        sealed record Removal(Tensor Kept, Tensor Removed, Tensor RemovedValues);

        public (Sequential Network, Variables Variables) Run()
        {
            var newLayers = new List<ILayer>();
            var newParams = new List<(string, TensorTree)>();
            var newState = new List<(string, TensorTree)>();
            Removal? removal = null;
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            for (int i = 0; i < layers.Count; i++)
            {
                var (name, layer) = layers[i];
                var p = variables.Params.Select(name);
                var s = variables.State.Select(name);
                switch (layer)
                {
                    case Dense or Convolution:
                        {
                            var (kernel, bias) = Consume(layer, p, removal);
                            removal = null;
                            if (TryRemoveUnits(i, layer, bias) is { } shrunk)
                            {
                                (removal, var units) = shrunk;
                                kernel = kernel.index_select(ModelRewrite.OutputAxis(kernel), units);
                                bias = bias?.index_select(0, units);
                                layer = Resized(layer, units.shape[0], bias is not null);
                            }
                            else if (bias is not null && !p.ContainsLeaf("bias"))
                            {
                                layer = ModelRewrite.Reconfigured(layer, config => config["use_bias"] = true);
                            }
                            newParams.Add((name, ModelRewrite.OwnKernelAndBias(kernel, bias)));
                            newState.Add((name, ModelRewrite.Own(s)));
                            break;
                        }
                    case BatchNorm:
                        newParams.Add((name, Sliced(p, removal)));
                        newState.Add((name, Sliced(s, removal)));
                        break;
                    case Flatten when removal is not null:
                        {
                            // Channel c of a (C, spatial...) activation becomes entries c*inner .. (c+1)*inner-1.
                            long inner = shapes[i].Skip(1).Aggregate(1L, (a, d) => a * d);
                            Tensor Spread(Tensor channels) => (channels.unsqueeze(1) * inner + arange(inner).unsqueeze(0)).flatten();
                            removal = removal with { Kept = Spread(removal.Kept), Removed = Spread(removal.Removed) };
                            goto default;
                        }
                    default:
                        newParams.Add((name, ModelRewrite.Own(p)));
                        newState.Add((name, ModelRewrite.Own(s)));
                        break;
                }
                newLayers.Add(layer);
            }
            return (new Sequential(newLayers, network.Name), new Variables(TensorTree.Node([.. newParams]), TensorTree.Node([.. newState])));
        }

        /// <summary>A consumer's kernel without the removed inputs, and its bias with what they
        /// held folded in (a bias appears when there was none and they held something).</summary>
        static (Tensor Kernel, Tensor? Bias) Consume(ILayer layer, TensorTree p, Removal? removal)
        {
            var kernel = p["kernel"];
            Tensor? bias = p.TryGetLeaf("bias", out var b) ? b : null;
            if (removal is null) return (kernel, bias);
            int inputAxis = layer is Dense ? 0 : 1;
            var removedRows = kernel.index_select(inputAxis, removal.Removed);
            // In the kernel's dtype: libtorch's matmul ends the process on mismatched dtypes.
            var removedValues = removal.RemovedValues.to_type(kernel.dtype);
            // Dense: v (removed) @ W[removed, :]; convolution: per filter, sum over the window of
            // each removed channel's weights times the value it held.
            var folded = layer is Dense
                ? removedValues.matmul(removedRows)
                : removedRows.flatten(2).sum(2).matmul(removedValues);
            if (folded.abs().max().item<float>() != 0) bias = bias is null ? folded : bias + folded;
            return (kernel.index_select(inputAxis, removal.Kept), bias);
        }

        /// <summary>The removal layer <paramref name="producer"/>'s dead units allow, and the units
        /// it keeps; null when it keeps its size. A dead unit outputs its activation of its bias.</summary>
        (Removal, Tensor Units)? TryRemoveUnits(int producer, ILayer layer, Tensor? bias)
        {
            var path = TreePath.Join(layers[producer].Name, "kernel");
            if (!masks.TryGetLeaf(path, out var mask) || mask.dim() < 2) return null;
            if (layer is Dense && shapes[producer + 1].Length != 1) return null;   // a Dense over (steps, features)
            var activation = ModelRewrite.ActivationOf(layer);
            if (IsMixing(activation)) return null;
            if (ConsumerOf(producer) is not { } consumer) return null;
            int axis = ModelRewrite.OutputAxis(mask);
            var alive = mask.transpose(0, axis).reshape(mask.shape[axis], -1).any(1);
            var units = alive.nonzero().flatten();
            var dead = alive.logical_not().nonzero().flatten();
            if (dead.shape[0] == 0) return null;
            if (units.shape[0] == 0)
            {
                // Keep one unit: a layer of none is no layer.
                units = dead.narrow(0, 0, 1);
                dead = dead.narrow(0, 1, dead.shape[0] - 1);
                if (dead.shape[0] == 0) return null;
            }
            // What the dead units pass on: their activation of their bias through the layers between.
            var output = shapes[producer + 1];
            var preActivation = zeros([1, .. output]);
            if (bias is not null) preActivation += bias.view([1, output[0], .. output.Skip(1).Select(_ => 1L)]);
            var x = activation.Invoke(preActivation);
            for (int j = producer + 1; j < consumer; j++)
            {
                var (name, between) = layers[j];
                x = between.Apply(new Variables(variables.Params.Select(name), variables.State.Select(name)), x, ApplyContext.Inference).Output;
            }
            var atConsumer = x[0];
            Tensor removed = dead, removedValues;
            if (layers[consumer].Layer is Dense)
            {
                // A Flatten between spreads each channel over its positions.
                if (atConsumer.dim() != 1) return null;
                long inner = atConsumer.shape[0] / shapes[producer + 1][0];
                Tensor Spread(Tensor channels) => inner == 1 ? channels : (channels.unsqueeze(1) * inner + arange(inner).unsqueeze(0)).flatten();
                removedValues = atConsumer.index_select(0, Spread(dead));
            }
            else
            {
                // A convolution sees each removed channel as a plane; its contribution is a
                // constant only when the plane is, and no padding adds zeros beside it.
                var planes = atConsumer.index_select(0, dead).flatten(1);
                removedValues = planes[.., 0];
                bool constant = planes.sub(removedValues.unsqueeze(1)).abs().max().item<float>() == 0;
                bool zero = removedValues.abs().max().item<float>() == 0;
                if (!constant || (!zero && ((Convolution)layers[consumer].Layer).Padding != Padding.Valid)) return null;
            }
            return (new Removal(units, removed, removedValues), units);
        }

        /// <summary>The index of the Dense or convolution layer that reads layer
        /// <paramref name="producer"/>'s units through layers that act on each unit alone; null
        /// when there is none.</summary>
        int? ConsumerOf(int producer)
        {
            for (int i = producer + 1; i < layers.Count; i++)
            {
                switch (layers[i].Layer)
                {
                    case Convolution: return i;
                    case Dense: return shapes[i].Length == 1 ? i : null;   // a Dense on (steps, features) reads the last axis
                    case Activation a when IsMixing(a.Function): return null;
                    case BatchNorm or Activation or Dropout or Pooling or GlobalPool or Flatten or ZeroPadding2D or UpSampling2D: continue;
                    default: return null;
                }
            }
            return null;
        }

        /// <summary>Activations that mix units (softmax): a removed unit would change the others.</summary>
        static bool IsMixing(ActivationFunction f) => f.Name is "softmax" or "log_softmax";

        static List<long[]> Shapes(Sequential network, long[] inputShape)
        {
            var shapes = new List<long[]> { inputShape };
            foreach (var (_, layer) in network.Layers) shapes.Add(layer.OutputShape(shapes[^1]));
            return shapes;
        }

        static TensorTree Sliced(TensorTree tree, Removal? removal) =>
            tree.Map(t => ModelRewrite.Own(removal is null || t.dim() == 0 ? t : t.index_select(0, removal.Kept)));
    }

    /// <summary>The same Dense or convolution with <paramref name="units"/> units or filters.</summary>
    static ILayer Resized(ILayer layer, long units, bool useBias) => ModelRewrite.Reconfigured(layer, config =>
    {
        config[layer is Dense ? "units" : "filters"] = units;
        config["use_bias"] = useBias;
    });
}
