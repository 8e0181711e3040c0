using static TorchSharp.torch;

namespace Functional.Streams.Columns;

/// <summary>(inputs, targets) for training from two column tensors.</summary>
internal static class LabeledTensors
{
    /// <summary>Inputs reshaped to [rows, shape...] and prepared (default: to float32); takes ownership of both tensors.</summary>
    public static (Tensor Inputs, Tensor Targets) Prepare(Tensor raw, Tensor targets, long[]? inputShape, Func<Tensor, Tensor>? prepareInputs)
    {
        var shaped = inputShape is null ? raw : raw.reshape([raw.shape[0], .. inputShape]);
        Tensor? inputs = null;
        try
        {
            inputs = prepareInputs is null ? shaped.to_type(ScalarType.Float32) : prepareInputs(shaped);
            return (inputs, targets);
        }
        catch
        {
            targets.Dispose();
            throw;
        }
        finally
        {
            // The intermediate tensors go, unless the preparation returned one of them.
            if (!ReferenceEquals(shaped, raw) && !ReferenceEquals(shaped, inputs)) shaped.Dispose();
            if (!ReferenceEquals(raw, inputs)) raw.Dispose();
        }
    }
}
