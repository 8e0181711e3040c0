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
    [ThreadStatic] static List<Tensor>? handedToLibtorch;

    /// <summary>Called from inside a backward callback: remember the failure for the caller.</summary>
    public static void RecordCallbackFailure(Exception error) => pendingError ??= error;

    /// <summary>
    /// Called from inside a backward callback with the gradients it returns: libtorch copies
    /// them as the callback returns, so these .NET handles are disposed when the pass ends
    /// instead of holding the memory until the finalizer runs.
    /// </summary>
    public static void ReleaseAfterPass(IEnumerable<Tensor> returned) => (handedToLibtorch ??= []).AddRange(returned);

    static void ReleaseHandedToLibtorch()
    {
        if (handedToLibtorch is not { Count: > 0 } handles) return;
        foreach (var t in handles) t.Dispose();
        handles.Clear();
    }

    /// <summary>
    /// Gradients of <c>sum_i &lt;cotangents[i], outputs[i]&gt;</c> with respect to each input
    /// (zeros for an input the outputs do not reach).
    /// </summary>
    /// <param name="outputs">The function's outputs.</param>
    /// <param name="inputs">What to differentiate with respect to.</param>
    /// <param name="cotangents">One per output, of the same shape; null when every output is a
    /// scalar and the cotangent is 1.</param>
    /// <param name="createGraph">Whether the gradients must themselves be differentiable.</param>
    /// <param name="retainGraph">Whether the graph stays usable for another pass.</param>
    /// <param name="transform">The calling transform's name, for messages.</param>
    /// <param name="ownsInputs">The inputs were made by <see cref="Tracing.Differentiable"/> for this
    /// call, so they hold no gradient of anyone else's (a tape's sources may: theirs is kept).</param>
    /// <param name="requireDependence">Throw when no input receives a gradient.</param>
    public static Tensor[] Gradients(
        IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor>? cotangents,
        bool createGraph, bool retainGraph, string transform, bool ownsInputs, bool requireDependence = true)
    {
        var (usedOutputs, usedCotangents) = OutputsThatNeedGradients(outputs, cotangents, transform);
        if (usedOutputs.Count == 0)
        {
            if (requireDependence) throw Independent(transform);
            return inputs.Select(x => torch.zeros_like(x)).ToArray();
        }

        // A non-leaf input (connected to an outer graph) keeps its gradient only with
        // retain_grad; that also keeps libtorch from warning when .grad is read below.
        if (createGraph || !ownsInputs)
            foreach (var x in inputs) if (!x.is_leaf) x.retain_grad();
        var previous = ownsInputs ? null : inputs.Select(x => x.grad).ToArray();
        if (previous is not null)
            foreach (var x in inputs) x.grad = null;

        pendingError = null;
        try
        {
            torch.autograd.backward(usedOutputs, usedCotangents, retainGraph, createGraph, inputs.ToList());
        }
        catch (ExternalException e)
        {
            ClearGradients(inputs, previous);
            throw new GradientException($"{transform}: libtorch could not compute the gradient: {FirstLine(e.Message)}", e);
        }
        finally
        {
            ReleaseHandedToLibtorch();
        }

        var result = new Tensor[inputs.Count];
        bool reached = false;
        for (int i = 0; i < inputs.Count; i++)
        {
            var g = inputs[i].grad;
            reached |= g is not null;
            result[i] = g ?? torch.zeros_like(inputs[i]);
        }
        // Clearing .grad also breaks the reference cycle create_graph leaves between a tensor
        // and its own gradient.
        ClearGradients(inputs, previous);
        if (pendingError is { } error)
        {
            pendingError = null;
            throw error as GradientException ?? new GradientException($"{transform}: a custom gradient failed: {error.Message}", error);
        }
        if (!reached && requireDependence && inputs.Count > 0) throw Independent(transform);
        return result;
    }

    static (List<Tensor> Outputs, List<Tensor>? Cotangents) OutputsThatNeedGradients(
        IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor>? cotangents, string transform)
    {
        if (cotangents is not null && outputs.Count != cotangents.Count)
            throw new ArgumentException($"{transform}: {outputs.Count} outputs but {cotangents.Count} cotangents.");
        var usedOutputs = new List<Tensor>(outputs.Count);
        var usedCotangents = cotangents is null ? null : new List<Tensor>(outputs.Count);
        for (int i = 0; i < outputs.Count; i++)
        {
            var y = outputs[i];
            if (y.IsInvalid) throw new ObjectDisposedException($"{transform}: output {i} was disposed before its gradient was taken.");
            if (cotangents is not null && !y.shape.SequenceEqual(cotangents[i].shape))
                throw new ArgumentException(
                    $"{transform}: the cotangent for output {i} has shape {Tracing.Shape(cotangents[i])} but the output has shape {Tracing.Shape(y)}.");
            if (!y.requires_grad) continue;
            usedOutputs.Add(y);
            if (cotangents is not null)
                usedCotangents!.Add(cotangents[i].dtype == y.dtype ? cotangents[i] : cotangents[i].to_type(y.dtype));
        }
        return (usedOutputs, usedCotangents);
    }

    static void ClearGradients(IReadOnlyList<Tensor> inputs, Tensor?[]? previous)
    {
        for (int i = 0; i < inputs.Count; i++) inputs[i].grad = previous?[i];
    }

    static GradientException Independent(string transform) => new(
        $"{transform}: the function's output does not depend on its differentiated input(s), so it has no gradient. " +
        "Check that the function uses the tensors it is given (not copies made outside it, or detached ones).");

    static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
