namespace Functional.Verification;

/// <summary>
/// What <see cref="GradCheck"/> found: the largest disagreement between an autodiff derivative
/// and its float64 central finite difference, and where it is.
/// </summary>
/// <param name="Passed">Every element was within tolerance.</param>
/// <param name="Check">Which derivative disagreed most: "vjp" (reverse mode, J^T v) or "jvp" (forward, J u).</param>
/// <param name="MaxAbsError">Largest |autodiff - numeric| over all elements and checks.</param>
/// <param name="MaxRelError">Largest |autodiff - numeric| / max(|autodiff|, |numeric|, absolute tolerance).</param>
/// <param name="WorstPath">Tree path of the worst element (an input leaf for vjp, an output leaf for jvp).</param>
/// <param name="WorstIndex">Index of the worst element within that leaf.</param>
/// <param name="Autodiff">The autodiff value at the worst element.</param>
/// <param name="Numeric">The finite-difference value at the worst element.</param>
public sealed record GradCheckReport(
    bool Passed, string Check, double MaxAbsError, double MaxRelError,
    string WorstPath, long[] WorstIndex, double Autodiff, double Numeric)
{
    /// <summary>One readable line.</summary>
    public override string ToString() =>
        $"{(Passed ? "passed" : "FAILED")}: max abs error {MaxAbsError:G3}, max rel error {MaxRelError:G3}; " +
        $"worst {Check} element '{(WorstPath.Length == 0 ? "<root>" : WorstPath)}'[{string.Join(", ", WorstIndex)}]: " +
        $"autodiff {Autodiff:G6} vs numeric {Numeric:G6}";
}

/// <summary>Thrown by <see cref="GradCheck.Assert(Func{Functional.Trees.TensorTree, Functional.Trees.TensorTree}, Functional.Trees.TensorTree, GradCheckOptions?)"/> when gradients disagree.</summary>
public sealed class GradCheckException(GradCheckReport report)
    : Exception("Gradient check " + report)
{
    /// <summary>The full report.</summary>
    public GradCheckReport Report { get; } = report;
}

/// <summary>Settings of a gradient check.</summary>
/// <param name="Step">Finite-difference step h (central differences, float64).</param>
/// <param name="AbsoluteTolerance">An element passes when |a - n| &lt;= atol + rtol * |n|.</param>
/// <param name="RelativeTolerance">See <paramref name="AbsoluteTolerance"/>.</param>
/// <param name="Seed">Seeds the random cotangent and tangent directions.</param>
/// <param name="CheckJvp">Also check the forward-mode product J u.</param>
public sealed record GradCheckOptions(
    double Step = 1e-6, double AbsoluteTolerance = 1e-5, double RelativeTolerance = 1e-3, int Seed = 0, bool CheckJvp = true);
