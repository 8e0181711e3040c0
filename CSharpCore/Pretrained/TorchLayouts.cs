using Functional.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Pretrained;

/// <summary>
/// How a PyTorch module's tensors become one of our layers' variables: names, and layouts where
/// they differ. <c>nn.Linear</c>'s weight is (out, in), a Dense kernel (in, out); recurrent
/// weights are stacked by gate as (gates × units, in), ours (in, gates × units), and
/// <c>nn.GRU</c> orders its gates reset, update, new where ours are update, reset, candidate;
/// PyTorch keeps two recurrent biases where LSTM and SimpleRNN have one (their sum).
/// Convolutions (both (out, in, k...), and (in, out, k, k) transposed), embeddings and
/// normalization only rename.
/// </summary>
static class TorchLayouts
{
    /// <summary>One variable of a layer: whether it is state (else a parameter), and how it is
    /// made from the module's tensors (looked up by their name without the module prefix).</summary>
    public sealed record Recipe(string Variable, bool IsState, Func<Func<string, Tensor>, Tensor> Make);

    /// <summary>The recipes for <paramref name="layer"/>'s kind.</summary>
    /// <exception cref="NotSupportedException">A layer kind with parameters and no PyTorch counterpart here (named).</exception>
    public static IReadOnlyList<Recipe> For(ILayer layer, string label) => layer switch
    {
        Dense => [Param("kernel", t => t("weight").t()), Param("bias", t => t("bias"))],
        Convolution or Conv2DTranspose => [Param("kernel", t => t("weight")), Param("bias", t => t("bias"))],
        Embedding => [Param("embeddings", t => t("weight"))],
        LayerNorm => [Param("scale", t => t("weight")), Param("offset", t => t("bias"))],
        BatchNorm =>
        [
            Param("scale", t => t("weight")), Param("offset", t => t("bias")),
            State("mean", t => t("running_mean")), State("variance", t => t("running_var")),
        ],
        Lstm or SimpleRnn =>
        [
            Param("kernel", t => t("weight_ih_l0").t()), Param("recurrent_kernel", t => t("weight_hh_l0").t()),
            Param("bias", t => t("bias_ih_l0") + t("bias_hh_l0")),
        ],
        Gru =>
        [
            Param("kernel", t => GruGates(t("weight_ih_l0")).t()), Param("recurrent_kernel", t => GruGates(t("weight_hh_l0")).t()),
            Param("bias", t => GruGates(t("bias_ih_l0"))), Param("recurrent_bias", t => GruGates(t("bias_hh_l0"))),
        ],
        _ => throw new NotSupportedException(
            $"Layer {label} ({LayerRegistry.KindOf(layer)}) has no PyTorch counterpart to load weights from; load its variables by hand (Model.RestoreVariables)."),
    };

    static Recipe Param(string name, Func<Func<string, Tensor>, Tensor> make) => new(name, false, make);

    static Recipe State(string name, Func<Func<string, Tensor>, Tensor> make) => new(name, true, make);

    /// <summary>PyTorch's GRU gate blocks (reset, update, new) in our order (update, reset, candidate).</summary>
    static Tensor GruGates(Tensor stacked)
    {
        if (stacked.shape[0] % 3 != 0)
            throw new ArgumentException($"a GRU weight's first dimension ({stacked.shape[0]}) is not three gates");
        var gates = stacked.chunk(3, 0);
        return torch.cat([gates[1], gates[0], gates[2]], 0);
    }
}
