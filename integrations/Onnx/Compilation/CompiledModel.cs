using Functional.Layers;
using Functional.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Compilation;

/// <summary>
/// A model compiled for inference (<see cref="ModelCompilation.Compile"/>): the network's own
/// ONNX export running in ONNX Runtime sessions in this process, with any layer that has no
/// ONNX lowering running eagerly between them (see <see cref="Plan"/>). It is a new value: its
/// weights are the model's when it was compiled, in float32 whatever the model's precision
/// policy, and it outputs float32.
/// </summary>
/// <remarks>
/// A compiled model is refused once its model has moved on (trained, restored or resumed: a
/// new <see cref="Model.State"/>), with an <see cref="InvalidOperationException"/> saying to
/// compile again, rather than answering with stale weights; <see cref="IsCurrent"/> tells. Safe
/// to call from several threads at once. Dispose it to free its sessions.
/// </remarks>
public sealed class CompiledModel : IDisposable
{
    readonly Model model;
    readonly TrainState compiledState;
    readonly Segment[] segments;
    readonly long[] inputShape, outputShape;
    bool disposed;

    internal CompiledModel(Model model, TrainState compiledState, Segment[] segments, ExecutionPlan plan)
    {
        (this.model, this.compiledState, this.segments, Plan) = (model, compiledState, segments, plan);
        (inputShape, outputShape) = (model.InputShape, model.OutputShape);
    }

    /// <summary>What runs where, and with which settings.</summary>
    public ExecutionPlan Plan { get; }

    /// <summary>Whether the model still has the weights this was compiled with.</summary>
    public bool IsCurrent => ReferenceEquals(model.State, compiledState);

    /// <summary>The outputs for a batch of inputs (batch, per-example input shape...) of any
    /// size, or for one example without a batch dimension; float32.</summary>
    /// <exception cref="ShapeException">Inputs of another per-example shape.</exception>
    /// <exception cref="InvalidOperationException">The model has moved on since it was compiled.</exception>
    public Tensor Predict(Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ObjectDisposedException.ThrowIf(disposed, this);
        if (!IsCurrent)
            throw new InvalidOperationException(
                $"Model '{model.Network.Name}' has changed since it was compiled (trained, restored or resumed): compile it again (model.Compile()) for its current weights.");
        var shape = inputs.shape;
        bool single = shape.AsSpan().SequenceEqual(inputShape);
        if (!single && (shape.Length != inputShape.Length + 1 || !shape.AsSpan(1).SequenceEqual(inputShape)))
            throw new ShapeException(
                $"Compiled model '{model.Network.Name}' expects inputs of shape (batch, {string.Join(", ", inputShape)}), but received ({string.Join(", ", shape)}).");
        if (inputs.is_complex() || inputs.dtype == ScalarType.Bool)
            throw new DtypeException($"Compiled model '{model.Network.Name}' takes real-valued inputs, but received {inputs.dtype}.");
        var x = single ? inputs.unsqueeze(0) : inputs.alias();
        for (int i = 0; i < segments.Length; i++)
        {
            try
            {
                var next = segments[i].Run(x);
                x.Dispose();
                x = next;
            }
            catch
            {
                x.Dispose();
                throw;
            }
        }
        if (!single) return x;
        using (x) return x.squeeze(0);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var s in segments) s.Dispose();
    }

    /// <summary>The per-example output shape.</summary>
    public long[] OutputShape => [.. outputShape];
}
