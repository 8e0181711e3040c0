using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Autodiff;

/// <summary>
/// TensorFlow's <c>GradientTape</c>: watch tensors or trees, run any computation, then ask for
/// gradients of a result with respect to what was watched. Several tapes may be open at once and
/// share one forward pass (the two-tape GAN step); a persistent tape answers any number of
/// <see cref="Gradient(Tensor, TensorTree)"/> calls, a plain one answers once.
/// </summary>
/// <example><code>
/// using var tape = new GradientTape();
/// tape.Watch(parameters);
/// var loss = Loss(parameters, batch);
/// TensorTree gradients = tape.Gradient(loss, parameters);
/// </code></example>
/// <remarks>
/// Watching a tensor that does not yet require gradients switches <c>requires_grad</c> on until
/// the tape is disposed. Gradients of a tape opened inside another open tape are themselves
/// differentiable (gradients of gradients), as in TensorFlow; <see cref="StopRecording"/> tells
/// other tapes that this one no longer records, so sibling tapes stay cheap.
/// </remarks>
public sealed class GradientTape : IDisposable
{
    [ThreadStatic] static int recording;
    readonly List<Tensor> switchedOn = [];
    bool isRecording = true, used, disposed;

    /// <summary>Opens a tape; it records until <see cref="StopRecording"/> or <see cref="Dispose"/>.</summary>
    /// <param name="persistent">Whether <see cref="Gradient(Tensor, TensorTree)"/> may be called more than once.</param>
    public GradientTape(bool persistent = false)
    {
        Persistent = persistent;
        recording++;
    }

    /// <summary>Number of tapes recording on this thread.</summary>
    internal static int RecordingCount => recording;

    /// <summary>Whether gradients may be asked for more than once.</summary>
    public bool Persistent { get; }

    /// <summary>Watches a tensor so gradients with respect to it can be taken; returns it.</summary>
    public Tensor Watch(Tensor tensor)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(tensor);
        if (!tensor.is_floating_point() && !tensor.is_complex())
            throw new ArgumentException($"GradientTape.Watch: a tensor of dtype {tensor.dtype} cannot have gradients; only floating-point tensors can be watched.");
        if (!tensor.requires_grad)
        {
            tensor.requires_grad_(true);
            switchedOn.Add(tensor);
        }
        return tensor;
    }

    /// <summary>Watches every leaf of a tree; returns it.</summary>
    public TensorTree Watch(TensorTree tree)
    {
        foreach (var (path, leaf) in tree)
        {
            try { Watch(leaf); }
            catch (ArgumentException e) { throw new ArgumentException($"{e.Message} (leaf '{Tracing.Describe(path)}')", nameof(tree), e); }
        }
        return tree;
    }

    /// <summary>Gradients of the scalar <paramref name="target"/> with respect to each leaf of
    /// <paramref name="sources"/> (zeros where it does not depend on a leaf).</summary>
    /// <exception cref="InvalidOperationException">A non-persistent tape was asked twice, or a
    /// source was never watched.</exception>
    /// <exception cref="GradientException">The target depends on none of the sources, or libtorch failed.</exception>
    public TensorTree Gradient(Tensor target, TensorTree sources) => Gradient(target, sources, outputGradient: null);

    /// <summary>Gradient of the scalar <paramref name="target"/> with respect to one tensor.</summary>
    public Tensor Gradient(Tensor target, Tensor source) => Gradient(target, TensorTree.Leaf(source))[""];

    /// <summary>
    /// The vector-Jacobian product of <paramref name="target"/> (any shape) with
    /// <paramref name="outputGradient"/> (same shape; ones when null, which needs a scalar
    /// target) with respect to each leaf of <paramref name="sources"/>.
    /// </summary>
    public TensorTree Gradient(Tensor target, TensorTree sources, Tensor? outputGradient)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(sources);
        if (used && !Persistent)
            throw new InvalidOperationException(
                "GradientTape.Gradient was called twice on a non-persistent tape; create it with persistent: true to ask for several gradients.");
        foreach (var (path, leaf) in sources)
            if (!leaf.requires_grad)
                throw new InvalidOperationException(
                    $"GradientTape.Gradient: source '{Tracing.Describe(path)}' was not watched; call tape.Watch on it before computing the target.");
        if (outputGradient is null && target.numel() != 1)
            throw new ArgumentException(
                $"GradientTape.Gradient: the target has shape {Tracing.Shape(target)}; pass an outputGradient of that shape, or reduce the target to a scalar.");
        used = true;
        using var gradMode = torch.enable_grad();
        bool createGraph = Tracing.InsideTransform || recording - (isRecording ? 1 : 0) > 0;
        var gradients = SafeAutograd.Gradients([target], sources.Leaves, outputGradient is null ? null : [outputGradient],
            createGraph, retainGraph: true, "GradientTape.Gradient", ownsInputs: false);
        return sources.WithLeaves(gradients);
    }

    /// <summary>Ends recording: gradients can still be asked for, and tapes opened around this
    /// one no longer make their gradients differentiable on its account.</summary>
    public void StopRecording()
    {
        if (!isRecording) return;
        isRecording = false;
        recording--;
    }

    /// <summary>Stops recording and switches <c>requires_grad</c> back off where Watch switched it on.</summary>
    public void Dispose()
    {
        if (disposed) return;
        StopRecording();
        foreach (var t in switchedOn)
            if (!t.IsInvalid) t.requires_grad_(false);
        switchedOn.Clear();
        disposed = true;
    }
}
