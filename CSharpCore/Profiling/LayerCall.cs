using Functional.Layers;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Profiling;

/// <summary>
/// How containers call a child layer. Unprofiled, it is the child's Apply. While a
/// <see cref="Profiler"/> records a step on this thread, it also times the forward call and
/// brackets the call in the autograd graph with identity markers, so the reverse pass reports
/// when the call's output gradient arrived (its backward begins) and when its input gradient
/// was made (its backward ends): TorchSharp has no tensor hooks, and this needs none.
/// </summary>
static class LayerCall
{
    /// <summary>Applies <paramref name="layer"/>, a child called <paramref name="name"/> (a
    /// later call of a shared layer is "name_call2", ...), recording it when a step records.</summary>
    public static (Tensor Output, TensorTree State) Apply(ILayer layer, Variables variables, Tensor input, ApplyContext context, string name) =>
        StepRecorder.Active is { } recorder
            ? Recorded(recorder, layer, recorder.ChildPath(name), input, x => layer.Apply(variables, x, context))
            : layer.Apply(variables, input, context);

    /// <summary>The whole network of a model, called at the top (its children's paths are its
    /// variables' paths, as in summaries and the TensorBoard graph).</summary>
    public static (Tensor Output, TensorTree State) ApplyNetwork(ILayer network, Variables variables, Tensor input, ApplyContext context) =>
        StepRecorder.Active is { } recorder
            ? Recorded(recorder, network, "", input, x => network.Apply(variables, x, context))
            : network.Apply(variables, input, context);

    /// <summary>The loss on the network's outputs, profiled as a call named "loss".</summary>
    public static (Tensor Total, Tensor[] PerOutput) Loss(Tensor[] outputs, Func<Tensor[], (Tensor Total, Tensor[] PerOutput)> loss)
    {
        if (StepRecorder.Active is not { } recorder) return loss(outputs);
        int index = recorder.BeginCall("loss", "loss", "loss", composite: false);
        (Tensor Total, Tensor[] PerOutput) value;
        try
        {
            value = loss([.. outputs.Select(o => Marker.Wrap(recorder, index, begins: false, o))]);
        }
        finally
        {
            recorder.EndCall(index);
        }
        return (Marker.Wrap(recorder, index, begins: true, value.Total), value.PerOutput);
    }

    static bool warm;

    /// <summary>Runs a marker forward and backward once, so the first recorded step does not pay
    /// for compiling the profiler's own code.</summary>
    public static void WarmUp(bool sampleMemory)
    {
        if (warm) return;
        warm = true;
        var recorder = new StepRecorder(-1, sampleMemory, []);
        recorder.Activate();
        try
        {
            using var scope = NewDisposeScope();
            var x = ones(2, requires_grad: true);
            int index = recorder.BeginCall("warm-up", "warm-up", "warm-up", composite: false);
            var y = Marker.Wrap(recorder, index, begins: true, Marker.Wrap(recorder, index, begins: false, x) * 2);
            recorder.EndCall(index);
            y.sum().backward();
        }
        finally
        {
            recorder.Deactivate();
            recorder.Finish([]);
        }
    }

    static (Tensor Output, TensorTree State) Recorded(StepRecorder recorder, ILayer layer, string path, Tensor input, Func<Tensor, (Tensor, TensorTree)> apply)
    {
        int index = recorder.BeginCall(path, NetworkWalk.Label(layer, path), LayerRegistry.KindOf(layer), layer is ICompositeLayer);
        (Tensor Output, TensorTree State) result;
        try
        {
            result = apply(Marker.Wrap(recorder, index, begins: false, input));
        }
        finally
        {
            recorder.EndCall(index);
        }
        return (Marker.Wrap(recorder, index, begins: true, result.Output), result.State);
    }

    /// <summary>Identity in the forward pass; in the reverse pass it tells the recorder it ran
    /// and passes the gradient on unchanged. Nothing may throw out of backward (it runs inside
    /// libtorch's engine).</summary>
    sealed class Marker : autograd.SingleTensorFunction<Marker>
    {
        const string Key = "boundary";

        sealed record Boundary(StepRecorder Recorder, int Call, bool Begins);

        public override string Name => "Functional.ProfileMarker";

        /// <summary>A marker on <paramref name="x"/>, or <paramref name="x"/> itself when no
        /// gradient will flow through it.</summary>
        public static Tensor Wrap(StepRecorder recorder, int call, bool begins, Tensor x) =>
            is_grad_enabled() && x.requires_grad ? apply(new Boundary(recorder, call, begins), x) : x;

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            ctx.save_data(Key, vars[0]);
            return ((Tensor)vars[1]).alias();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            try
            {
                var boundary = (Boundary)ctx.get_data(Key);
                boundary.Recorder.BackwardBoundary(boundary.Call, boundary.Begins, grad_output);
            }
            catch (Exception e)
            {
                Autodiff.SafeAutograd.RecordCallbackFailure(new Autodiff.GradientException($"Profiler marker: {e.Message}", e));
            }
            Autodiff.SafeAutograd.ReleaseAfterPass([grad_output]);
            return [null!, grad_output];
        }
    }
}
