using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Autodiff;

/// <summary>
/// The one place that runs libtorch's reverse pass. It checks what it can before libtorch sees
/// it, runs the pass through the entry that turns libtorch errors into .NET exceptions
/// (<c>autograd.backward</c>; <c>autograd.grad</c> ends the process on an error), and rethrows
/// failures of custom gradients, which must never unwind through native frames.
/// </summary>
static class SafeAutograd
{
    [ThreadStatic] static Exception? pendingError;

    /// <summary>Called from inside a backward callback: remember the failure for the caller.</summary>
    public static void RecordCallbackFailure(Exception error) => pendingError ??= error;

    /// <summary>
    /// Gradients of <c>sum_i &lt;cotangents[i], outputs[i]&gt;</c> with respect to each input
    /// (zeros for an input the outputs do not reach). Inputs must be tensors made by
    /// <see cref="Tracing.Differentiable"/> or watched by a tape.
    /// </summary>
    /// <param name="outputs">The function's outputs.</param>
    /// <param name="inputs">What to differentiate with respect to.</param>
    /// <param name="cotangents">One per output, of the same shape.</param>
    /// <param name="createGraph">Whether the gradients must themselves be differentiable.</param>
    /// <param name="retainGraph">Whether the graph stays usable for another pass.</param>
    /// <param name="transform">The calling transform's name, for messages.</param>
    /// <param name="requireDependence">Throw when no output depends on any input.</param>
    public static Tensor[] Gradients(
        IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> cotangents,
        bool createGraph, bool retainGraph, string transform, bool requireDependence = true)
    {
        if (outputs.Count != cotangents.Count)
            throw new ArgumentException($"{transform}: {outputs.Count} outputs but {cotangents.Count} cotangents.");
        var usedOutputs = new List<Tensor>();
        var usedCotangents = new List<Tensor>();
        for (int i = 0; i < outputs.Count; i++)
        {
            var (y, v) = (outputs[i], cotangents[i]);
            if (y.IsInvalid) throw new ObjectDisposedException($"{transform}: output {i} was disposed before its gradient was taken.");
            if (!y.shape.SequenceEqual(v.shape))
                throw new ArgumentException(
                    $"{transform}: the cotangent for output {i} has shape {Tracing.Shape(v)} but the output has shape {Tracing.Shape(y)}.");
            if (!y.requires_grad) continue;
            usedOutputs.Add(y);
            usedCotangents.Add(v.dtype == y.dtype ? v : v.to_type(y.dtype));
        }
        if (usedOutputs.Count == 0)
        {
            if (requireDependence)
                throw new GradientException(
                    $"{transform}: the function's output does not depend on its differentiated input(s), so it has no gradient. " +
                    "Check that the function uses the tensors it is given (not copies made outside it or detached ones).");
            return inputs.Select(x => torch.zeros_like(x)).ToArray();
        }

        // A non-leaf input (connected to an outer graph) keeps its gradient only with retain_grad;
        // this also keeps libtorch from warning when .grad is read below.
        foreach (var x in inputs) if (!x.is_leaf) x.retain_grad();
        var previous = inputs.Select(x => x.grad).ToArray();
        foreach (var x in inputs) if (x.grad is not null) x.grad = null;
        pendingError = null;
        try
        {
            torch.autograd.backward(usedOutputs, usedCotangents, retainGraph, createGraph, inputs.ToList());
        }
        catch (ExternalException e)
        {
            Restore(inputs, previous);
            throw new GradientException($"{transform}: libtorch could not compute the gradient: {FirstLine(e.Message)}", e);
        }
        var result = new Tensor[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
            result[i] = inputs[i].grad ?? torch.zeros_like(inputs[i]);
        // Clearing .grad breaks the reference cycle that create_graph leaves between a tensor
        // and its own gradient.
        Restore(inputs, previous);
        if (pendingError is { } error)
        {
            pendingError = null;
            throw error as GradientException ?? new GradientException($"{transform}: a custom gradient failed: {error.Message}", error);
        }
        return result;
    }

    static void Restore(IReadOnlyList<Tensor> inputs, Tensor?[] previous)
    {
        for (int i = 0; i < inputs.Count; i++) inputs[i].grad = previous[i];
    }

    static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
