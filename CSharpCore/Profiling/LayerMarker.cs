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

    sealed record Boundary(StepRecorder Recorder, int Call, bool Begins)
    {
        /// <summary>The handle forward made; libtorch wraps it in a new one, so it is freed after apply.</summary>
        public Tensor? Alias { get; set; }
    }

    public override string Name => "Functional.ProfileMarker";

    /// <summary>
    /// A marker on <paramref name="x"/>, or <paramref name="x"/> itself when no gradient will
    /// flow through it. TorchSharp keeps an empty tensor the size of each custom function's
    /// output until the graph is freed; the recorder counts those bytes and leaves them out of
    /// its heap samples.
    /// </summary>
    public static Tensor Wrap(StepRecorder recorder, int call, bool begins, Tensor x)
    {
        if (!is_grad_enabled() || !x.requires_grad) return x;
        var boundary = new Boundary(recorder, call, begins);
        var marked = apply(boundary, x);
        boundary.Alias?.Dispose();
        recorder.MarkerHeld(x.numel() * x.element_size());
        return marked;
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var boundary = (Boundary)vars[0];
        ctx.save_data(Key, boundary);
        return boundary.Alias = ((Tensor)vars[1]).alias();
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
        var recorder = new StepRecorder(-1, sampleMemory, []);
        recorder.Activate();
        try
        {
            using var scope = NewDisposeScope();
            using var grad = enable_grad();   // a custom loop may begin a step under no_grad
            var x = ones(2, requires_grad: true);
            var y = recorder.Call(new Layers.Flatten("warm-up"), "warm-up", x, input => (input * 2, Trees.TensorTree.Empty));
            y.Output.sum().backward();
            warm = true;
        }
        finally
        {
            recorder.Deactivate();
            recorder.Finish([]);
        }
    }
}
