using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Profiling;

/// <summary>
/// Identity in the forward pass; in the reverse pass it tells its recorder that it ran (the
/// gradient of a layer call's output arrived, or that of its input was made) and passes the
/// gradient on unchanged. TorchSharp has no tensor hooks; this needs none. Nothing may throw out
/// of backward (it runs inside libtorch's engine).
/// </summary>
sealed class LayerMarker : autograd.SingleTensorFunction<LayerMarker>
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
            var y = recorder.Call(new Layers.Flatten("warm-up"), "warm-up", x, input => (input * 2, Trees.TensorTree.Empty));
            y.Output.sum().backward();
        }
        finally
        {
            recorder.Deactivate();
            recorder.Finish([]);
        }
    }
}
