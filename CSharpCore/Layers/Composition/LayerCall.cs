using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// How containers (Sequential, functional models) call a child layer, and how a model calls its
/// network and its loss: plainly, unless an observer watches this thread's calls (the profiler
/// while it records a step). Unwatched, a call costs one thread-static read more than Apply.
/// </summary>
static class LayerCall
{
    [ThreadStatic] static ILayerCallObserver? observer;

    /// <summary>The observer of this thread's calls, or null.</summary>
    public static ILayerCallObserver? Observer
    {
        get => observer;
        set => observer = value;
    }

    /// <summary>Applies <paramref name="layer"/>, the child called <paramref name="name"/> (a
    /// later call of a shared layer is "name_call2", ...).</summary>
    public static (Tensor Output, TensorTree State) Apply(ILayer layer, Variables variables, Tensor input, ApplyContext context, string name) =>
        observer is { } o ? o.Call(layer, name, input, x => layer.Apply(variables, x, context)) : layer.Apply(variables, input, context);

    /// <summary>Applies a model's whole network (its children's paths are then its variables' paths).</summary>
    public static (Tensor Output, TensorTree State) ApplyNetwork(ILayer network, Variables variables, Tensor input, ApplyContext context) =>
        observer is { } o ? o.Call(network, null, input, x => network.Apply(variables, x, context)) : network.Apply(variables, input, context);

    /// <summary>Computes a model's loss on the network's outputs.</summary>
    public static (Tensor Total, Tensor[] PerOutput) ApplyLoss(Tensor[] outputs, Func<Tensor[], (Tensor Total, Tensor[] PerOutput)> loss) =>
        observer is { } o ? o.Loss(outputs, loss) : loss(outputs);
}

/// <summary>Watches the layer calls of one thread (see <see cref="LayerCall"/>).</summary>
interface ILayerCallObserver
{
    /// <summary>A call of <paramref name="layer"/> as the child <paramref name="name"/> (null:
    /// a model's network, at the top); <paramref name="apply"/> runs it on a (possibly wrapped) input.</summary>
    (Tensor Output, TensorTree State) Call(ILayer layer, string? name, Tensor input, Func<Tensor, (Tensor Output, TensorTree State)> apply);

    /// <summary>A model's loss on its network's outputs.</summary>
    (Tensor Total, Tensor[] PerOutput) Loss(Tensor[] outputs, Func<Tensor[], (Tensor Total, Tensor[] PerOutput)> loss);
}
