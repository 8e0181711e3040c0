using System.Globalization;
using System.Text;
using Functional.Trees;
using TorchSharp;

namespace Functional.ModelOptimization;

/// <summary>The zeros of one parameter.</summary>
/// <param name="Path">The parameter's path ("dense_1/kernel").</param>
/// <param name="Count">Its number of weights.</param>
/// <param name="Zeros">How many of them are exactly zero.</param>
public sealed record ParameterSparsity(string Path, long Count, long Zeros)
{
    /// <summary>The share of zeros, in [0, 1].</summary>
    public double Sparsity => Count == 0 ? 0 : (double)Zeros / Count;
}

/// <summary>Sparsity per parameter and overall (<see cref="Pruning.Report"/>); prints as a table.</summary>
public sealed record SparsityReport(IReadOnlyList<ParameterSparsity> Parameters)
{
    /// <summary>Weights over all the parameters reported.</summary>
    public long Count => Parameters.Sum(p => p.Count);
    /// <summary>Zeros over all the parameters reported.</summary>
    public long Zeros => Parameters.Sum(p => p.Zeros);
    /// <summary>The share of zeros over all the parameters reported.</summary>
    public double Sparsity => Count == 0 ? 0 : (double)Zeros / Count;

    /// <summary>Counts the exact zeros of each leaf of <paramref name="parameters"/>.</summary>
    public static SparsityReport Of(TensorTree parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        using var scope = torch.NewDisposeScope();
        return new([.. parameters.Select(leaf => new ParameterSparsity(leaf.Key, leaf.Value.numel(),
            leaf.Value.numel() - torch.count_nonzero(leaf.Value.detach()).item<long>()))]);
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        int width = Math.Max(9, Parameters.Select(p => p.Path.Length).DefaultIfEmpty(0).Max());
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{"parameter".PadRight(width)}  {"weights",10}  {"zeros",10}  sparsity\n");
        foreach (var p in Parameters.Append(new ParameterSparsity("total", Count, Zeros)))
            text.Append(CultureInfo.InvariantCulture, $"{p.Path.PadRight(width)}  {p.Count,10}  {p.Zeros,10}  {p.Sparsity,8:P1}\n");
        return text.ToString();
    }
}
