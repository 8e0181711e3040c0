using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>Inputs with their targets, e.g. validation data.</summary>
/// <param name="Inputs">(examples, ...) inputs.</param>
/// <param name="Targets">(examples, ...) targets.</param>
public sealed record LabeledData(Tensor Inputs, Tensor Targets);
