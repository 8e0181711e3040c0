using Functional.Autodiff;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.ModelOptimization;

/// <summary>
/// Affine quantization with ONNX's semantics (QuantizeLinear / DequantizeLinear):
/// <c>q = saturate(round(x / scale) + zeroPoint)</c>, rounding half to even, and back
/// <c>x' = (q - zeroPoint) * scale</c>. Activations are uint8 with a zero point (asymmetric, the
/// range widened to hold 0, so zero padding and ReLU's zeros are exact); weights are int8 in
/// [-127, 127] with zero point 0 (symmetric), a scale per output channel or one per tensor; biases
/// int32 at the input scale times the weight scale. These are the types ONNX Runtime's x86
/// integer kernels take (uint8 activations, int8 weights).
/// </summary>
public static class AffineQuantizer
{
    /// <summary>The range of uint8 activations.</summary>
    public const int ActivationMin = 0, ActivationMax = 255;
    /// <summary>The symmetric range of int8 weights.</summary>
    public const int WeightMax = 127;

    /// <summary>The uint8 scale and zero point (float32 scalars) for values observed in
    /// [<paramref name="min"/>, <paramref name="max"/>], widened to hold 0.</summary>
    /// <exception cref="ArgumentException">A bound that is not finite, or min above max.</exception>
    public static (Tensor Scale, Tensor ZeroPoint) ActivationParameters(double min, double max)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max) || min > max)
            throw new ArgumentException($"An activation range needs finite bounds with min <= max; got [{min}, {max}] (was the layer ever observed?).");
        var (low, high) = ((float)Math.Min(min, 0), (float)Math.Max(max, 0));
        float scale = (high - low) / (ActivationMax - ActivationMin);
        if (!(scale > 0) || !float.IsFinite(scale)) scale = 1;
        // ONNX Runtime's rule: the zero point is qmin - low / scale, rounded and saturated.
        float zeroPoint = Math.Clamp(MathF.Round(ActivationMin - low / scale, MidpointRounding.ToEven), ActivationMin, ActivationMax);
        return (tensor(scale), tensor(zeroPoint));
    }

    /// <summary>The uint8 scale and zero point for a range held as a (min, max) tensor.</summary>
    public static (Tensor Scale, Tensor ZeroPoint) ActivationParameters(Tensor range)
    {
        ArgumentNullException.ThrowIfNull(range);
        var values = Values(range);
        if (values.Length != 2) throw new ArgumentException($"An activation range is a (min, max) pair; got {values.Length} values.", nameof(range));
        return ActivationParameters(values[0], values[1]);
    }

    /// <summary>A small tensor's values as float64, read on the CPU.</summary>
    internal static double[] Values(Tensor t)
    {
        if (t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float64) return t.data<double>().ToArray();
        using var copy = t.detach().to(DeviceType.CPU).to_type(ScalarType.Float64);
        return copy.data<double>().ToArray();
    }

    /// <summary>The int8 scales of <paramref name="weights"/>: the largest magnitude over 127 per
    /// slice along <paramref name="axis"/> (a 1-D tensor), or over the whole tensor when
    /// <paramref name="axis"/> is null (a scalar). A slice of zeros (a pruned unit) gets scale 1.</summary>
    public static Tensor WeightScale(Tensor weights, int? axis)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (axis is { } checkedAxis && (checkedAxis < 0 || checkedAxis >= weights.dim()))
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"Weights of shape ({string.Join(", ", weights.shape)}) have no axis {axis}.");
        using var scope = NewDisposeScope();
        var magnitude = weights.detach().abs();
        var largest = axis is not { } a ? magnitude.max() : magnitude.transpose(0, a).reshape(weights.shape[a], -1).amax([1]);
        var scale = largest.to_type(ScalarType.Float32) / WeightMax;
        return where(scale > 0, scale, ones_like(scale)).MoveToOuterDisposeScope();
    }

    /// <summary><paramref name="weights"/> as int8 at <paramref name="scale"/> (per slice along
    /// <paramref name="axis"/> when the scale is 1-D).</summary>
    public static Tensor QuantizeWeights(Tensor weights, Tensor scale, int? axis)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(scale);
        RequireSlices(weights, scale, axis, "scale");
        using var scope = NewDisposeScope();
        var q = (weights.detach().to_type(ScalarType.Float32) / Along(scale, weights.dim(), axis)).round().clamp(-WeightMax, WeightMax);
        return q.to_type(ScalarType.Int8).MoveToOuterDisposeScope();
    }

    /// <summary>Integers back to float32: <c>(q - zeroPoint) * scale</c>, per slice along
    /// <paramref name="axis"/> when the scale is 1-D.</summary>
    public static Tensor Dequantize(Tensor values, Tensor scale, Tensor? zeroPoint = null, int? axis = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(scale);
        RequireSlices(values, scale, axis, "scale");
        if (zeroPoint is not null) RequireSlices(values, zeroPoint, axis, "zero point");
        using var scope = NewDisposeScope();
        var x = values.to_type(ScalarType.Float32);
        if (zeroPoint is not null) x = x - Along(zeroPoint.to_type(ScalarType.Float32), values.dim(), axis);
        return (x * Along(scale, values.dim(), axis)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Quantizes and dequantizes <paramref name="x"/> (what an int8 kernel sees, in float), with
    /// the straight-through estimator as its gradient: the output's gradient passes unchanged
    /// where x lies inside the representable range and is 0 where it was clipped. The STE is not
    /// the true derivative (which is 0 almost everywhere); it is what quantization-aware training
    /// needs. Under no_grad the plain computation runs.
    /// </summary>
    /// <param name="x">Values to quantize.</param>
    /// <param name="scale">A scalar, or one per slice along <paramref name="axis"/>.</param>
    /// <param name="zeroPoint">Likewise (integer values held as float).</param>
    /// <param name="min">The smallest integer (0 for uint8, -127 for the weights' int8).</param>
    /// <param name="max">The largest integer.</param>
    /// <param name="axis">The axis of per-slice parameters; null for per-tensor.</param>
    public static Tensor FakeQuantize(Tensor x, Tensor scale, Tensor zeroPoint, int min, int max, int? axis = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(scale);
        ArgumentNullException.ThrowIfNull(zeroPoint);
        if (min >= max) throw new ArgumentOutOfRangeException(nameof(max), max, $"The integer range [{min}, {max}] is empty.");
        if (!x.is_floating_point()) throw new ArgumentException($"Fake quantization takes floating-point values; got {x.dtype}.", nameof(x));
        RequireSlices(x, scale, axis, "scale");
        RequireSlices(x, zeroPoint, axis, "zero point");
        if (!is_grad_enabled() || !x.requires_grad) return RoundTrip(x, scale, zeroPoint, min, max, axis).Output;
        return Transforms.CustomVjp(
            input =>
            {
                var (output, inside) = RoundTrip(input[""], scale, zeroPoint, min, max, axis);
                return (TensorTree.Leaf(output), TensorTree.Of(("inside", inside)));
            },
            (residuals, cotangent) => TensorTree.Leaf(cotangent[""] * residuals["inside"]),
            "fake_quantize")(TensorTree.Leaf(x))[""];
    }

    /// <summary>The quantized-and-back values and where the input was inside the range.</summary>
    static (Tensor Output, Tensor Inside) RoundTrip(Tensor x, Tensor scale, Tensor zeroPoint, int min, int max, int? axis)
    {
        using var scope = NewDisposeScope();
        var s = Along(scale.to_type(x.dtype), x.dim(), axis);
        var z = Along(zeroPoint.to_type(x.dtype), x.dim(), axis);
        var q = (x / s).round().add(z);
        var inside = q.ge(min).logical_and(q.le(max));
        var output = q.clamp(min, max).sub(z).mul(s);
        return (output.MoveToOuterDisposeScope(), inside.MoveToOuterDisposeScope());
    }

    /// <summary>A per-slice parameter shaped to broadcast along <paramref name="axis"/> of a
    /// tensor of rank <paramref name="rank"/> (a scalar stays as it is).</summary>
    static Tensor Along(Tensor parameter, long rank, int? axis)
    {
        if (parameter.dim() == 0) return parameter;
        if (axis is not { } a || parameter.dim() != 1 || a < -rank || a >= rank)
            throw new ArgumentException(
                $"A quantization parameter of shape ({string.Join(", ", parameter.shape)}) needs to be a scalar, or 1-D along an axis of the values' {rank} (axis: {axis?.ToString() ?? "none"}).");
        var shape = Enumerable.Repeat(1L, (int)rank).ToArray();
        shape[a < 0 ? a + rank : a] = parameter.shape[0];
        return parameter.view(shape);
    }

    /// <summary>Throws unless a per-slice parameter has one value per slice of <paramref name="values"/> along <paramref name="axis"/>.</summary>
    static void RequireSlices(Tensor values, Tensor parameter, int? axis, string name)
    {
        if (parameter.dim() == 0) return;
        long rank = values.dim();
        if (axis is not { } a || a < -rank || a >= rank || parameter.dim() != 1 || parameter.shape[0] != values.shape[a < 0 ? a + rank : a])
            throw new ArgumentException(
                $"The {name} has shape ({string.Join(", ", parameter.shape)}) but the values have shape ({string.Join(", ", values.shape)}) and the axis is {axis?.ToString() ?? "none"}: give a scalar, or one value per slice along the axis.",
                name);
    }
}
