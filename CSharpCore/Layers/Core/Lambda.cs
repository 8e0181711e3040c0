using System.Collections.Concurrent;
using Functional.Export;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// A function as a layer (Keras's Lambda), saved by the name it is registered under: register
/// the function once per process with <see cref="Register"/> (in the process that loads the
/// model too), then use <c>new Lambda("name")</c>. Without a shape rule the output has the
/// input's shape; without an ONNX rule the layer does not export.
/// </summary>
[LayerKind("lambda")]
public sealed class Lambda : Layer, IOnnxExportable
{
    sealed record Function(Func<Tensor, Tensor> Apply, Func<long[], long[]>? OutputShape, Func<OnnxGraph, string, string>? ToOnnx);

    static readonly ConcurrentDictionary<string, Function> Functions = new(StringComparer.Ordinal);

    readonly Function function;

    /// <summary>Registers (or replaces) the function called <paramref name="function"/>: how it
    /// computes, optionally its per-example output shape and its ONNX form.</summary>
    public static void Register(string function, Func<Tensor, Tensor> apply, Func<long[], long[]>? outputShape = null,
        Func<OnnxGraph, string, string>? toOnnx = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(function);
        ArgumentNullException.ThrowIfNull(apply);
        Functions[function] = new Function(apply, outputShape, toOnnx);
    }

    /// <summary>The layer computing the registered function <paramref name="functionName"/>.</summary>
    /// <exception cref="ArgumentException">No function of that name is registered.</exception>
    public Lambda(string functionName, string? name = null) : base(name ?? functionName)
    {
        ArgumentException.ThrowIfNullOrEmpty(functionName);
        function = Functions.TryGetValue(functionName, out var f) ? f
            : throw new ArgumentException(
                $"No function '{functionName}' is registered for Lambda layers: call Lambda.Register(\"{functionName}\", ...) first, also in the process that loads the model.",
                nameof(functionName));
        FunctionName = functionName;
    }

    /// <summary>The registered function's name.</summary>
    public string FunctionName { get; }

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "function", FunctionName } };

    /// <summary>The layer a configuration describes (its function must be registered).</summary>
    public static Lambda FromConfig(LayerConfig config, string? name) => new(config.Text("function"), name);

    /// <inheritdoc/>
    protected override InputDtypes Accepts => InputDtypes.Any;

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) => function.OutputShape?.Invoke(inputShape) ?? inputShape;

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input) { }

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (function.Apply(input), variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        function.ToOnnx?.Invoke(graph, input)
        ?? throw new NotSupportedException(
            $"Layer '{Name}' (lambda) cannot be exported to ONNX: register '{FunctionName}' with an ONNX form (Lambda.Register's toOnnx).");
}
