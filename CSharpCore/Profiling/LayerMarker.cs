using System.Reflection;
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

        /// <summary>The call's context, to find the node TorchSharp made for it.</summary>
        public autograd.AutogradContext? Context { get; set; }
    }

    // TorchSharp 0.107 keeps an empty tensor the size of each output of a custom function
    // (Node._outputCache), only to make zeros when a gradient arrives undefined. Markers take
    // undefined gradients as they come (MaterializeGrads off), so that cache is freed at once;
    // where these private fields are not found, the bytes are counted out of the heap instead.
    static readonly FieldInfo? NodeOfContext = typeof(autograd.AutogradContext).GetField("_node", BindingFlags.NonPublic | BindingFlags.Instance);
    static FieldInfo? outputCache;

    public override string Name => "Functional.ProfileMarker";

    /// <summary>A marker on <paramref name="x"/>, or <paramref name="x"/> itself when no
    /// gradient will flow through it.</summary>
    public static Tensor Wrap(StepRecorder recorder, int call, bool begins, Tensor x)
    {
        if (!is_grad_enabled() || !x.requires_grad) return x;
        var boundary = new Boundary(recorder, call, begins);
        var marked = apply(boundary, x);
        boundary.Alias?.Dispose();
        if (!FreeOutputCache(boundary.Context)) recorder.MarkerHeld(x.numel() * x.element_size());
        return marked;
    }

    /// <summary>Frees the empty outputs TorchSharp keeps for the node; false where it cannot.</summary>
    static bool FreeOutputCache(autograd.AutogradContext? context)
    {
        try
        {
            if (context is null || NodeOfContext?.GetValue(context) is not { } node) return false;
            outputCache ??= node.GetType().GetField("_outputCache", BindingFlags.NonPublic | BindingFlags.Instance);
            if (outputCache?.GetValue(node) is not List<Tensor> cache) return false;
            for (int i = 0; i < cache.Count; i++)
            {
                cache[i]?.Dispose();
                cache[i] = null!;
            }
            return true;
        }
        catch (Exception e) when (e is FieldAccessException or ArgumentException or InvalidCastException)
        {
            return false;
        }
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var boundary = (Boundary)vars[0];
        ctx.save_data(Key, boundary);
        // An undefined gradient passes on undefined (a zero handle), so no zeros are ever made.
        ctx.set_materialize_grads(false);
        boundary.Context = ctx;
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
