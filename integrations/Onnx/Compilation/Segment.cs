using Functional.Export;
using Functional.Layers;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Compilation;

/// <summary>A part of a compiled model: a batch in, a batch out (inference, no gradients).</summary>
abstract class Segment : IDisposable
{
    /// <summary>The part's description in the plan.</summary>
    public abstract PlanSegment Description { get; }

    /// <summary>The part's output for a batch (a new tensor the caller owns).</summary>
    public abstract Tensor Run(Tensor input);

    /// <inheritdoc/>
    public virtual void Dispose() { }
}

/// <summary>Layers run in an ONNX Runtime session built from their export. Inputs and outputs
/// are not copied: ONNX Runtime reads the input tensor's memory and writes into an output
/// tensor allocated by libtorch.</summary>
sealed class OnnxSegment : Segment
{
    readonly InferenceSession session;
    readonly RunOptions runOptions = new();
    readonly bool takesIds;
    readonly long[] outputShape;
    readonly string[] inputNames = ["input"], outputNames = ["output"];

    public OnnxSegment(ILayer network, long[] inputShape, Variables variables, IReadOnlyList<string> layers, SessionOptions options)
    {
        var lowered = OnnxGraph.Build(network, inputShape, variables);
        takesIds = lowered.Input!.IsInt64;
        outputShape = lowered.Output!.PerExampleShape;
        session = new InferenceSession(OnnxExport.ToModel(lowered).ToByteArray(), options);
        Description = new PlanSegment(layers, SegmentRuntime.OnnxRuntime, null);
    }

    public override PlanSegment Description { get; }

    public override unsafe Tensor Run(Tensor input)
    {
        var dtype = takesIds ? ScalarType.Int64 : ScalarType.Float32;
        using var x = input.dtype == dtype && input.is_contiguous() ? input.alias() : input.to_type(dtype).contiguous();
        var output = torch.empty([x.shape[0], .. outputShape], ScalarType.Float32);
        try
        {
            // Tensors' bytes are their native memory: ONNX Runtime reads and writes it in place.
            fixed (byte* xBytes = x.bytes)
            fixed (byte* yBytes = output.bytes)
            {
                using var xValue = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance,
                    takesIds ? TensorElementType.Int64 : TensorElementType.Float, x.shape, (IntPtr)xBytes, x.numel() * x.ElementSize);
                using var yValue = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance,
                    TensorElementType.Float, output.shape, (IntPtr)yBytes, output.numel() * sizeof(float));
                session.Run(runOptions, inputNames, [xValue], outputNames, [yValue]);
            }
            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    public override void Dispose()
    {
        session.Dispose();
        runOptions.Dispose();
    }
}

/// <summary>Layers run eagerly in libtorch with the weights they had when the model was compiled.</summary>
sealed class EagerSegment(ILayer network, Variables variables, IReadOnlyList<string> layers, string reason) : Segment
{
    public override PlanSegment Description { get; } = new(layers, SegmentRuntime.Eager, reason);

    public override Tensor Run(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var (output, _) = network.Apply(variables, input, ApplyContext.Inference.WithPrecision(PrecisionPolicy.Float32));
        return PrecisionPolicy.InFloat32(output).contiguous().MoveToOuterDisposeScope();
    }

    public override void Dispose()
    {
        variables.Params.Dispose();
        variables.State.Dispose();
    }
}
