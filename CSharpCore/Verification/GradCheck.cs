using Functional.Autodiff;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Verification;

/// <summary>
/// Verifies derivatives numerically: compares the autodiff vector-Jacobian product J^T v (for a
/// random v) with central finite differences of &lt;v, f(x)&gt; element by element, and the
/// Jacobian-vector product J u (random u) with (f(x + h u) - f(x - h u)) / 2h, all in float64.
/// Use it on any function of trees, custom gradients included.
/// </summary>
/// <remarks>The inputs are converted to float64; the function must work in the dtype of its
/// inputs (create constants with <c>dtype: x.dtype</c>). The function must be deterministic.</remarks>
public static class GradCheck
{
    /// <summary>Checks the derivatives of <paramref name="f"/> at <paramref name="x"/>.</summary>
    public static GradCheckReport Check(Func<TensorTree, TensorTree> f, TensorTree x, GradCheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(x);
        var o = options ?? new GradCheckOptions();
        using var scope = torch.NewDisposeScope();
        var x64 = x.Map(t => t.detach().to_type(ScalarType.Float64).clone());
        using var generator = new torch.Generator((ulong)o.Seed);

        var (output, pullback) = Transforms.Vjp(f, x64);
        var cotangent = output.Map(t => torch.randn(t.shape, dtype: ScalarType.Float64, generator: generator));
        var vjp = pullback(cotangent);
        var numericVjp = x64.Map((path, leaf) => NumericVjp(f, x64, path, cotangent, o.Step));
        var worst = Compare("vjp", vjp, numericVjp, o);

        if (o.CheckJvp)
        {
            var tangent = x64.Map(t => torch.randn(t.shape, dtype: ScalarType.Float64, generator: generator));
            var (_, jvp) = Transforms.Jvp(f, x64, tangent);
            var numericJvp = NumericJvp(f, x64, tangent, o.Step);
            var jvpWorst = Compare("jvp", jvp, numericJvp, o);
            worst = Worse(worst, jvpWorst);
        }
        return worst.Report;
    }

    /// <summary>Checks a scalar-valued function of a tree.</summary>
    public static GradCheckReport Check(Func<TensorTree, Tensor> f, TensorTree x, GradCheckOptions? options = null) =>
        Check(t => TensorTree.Leaf(f(t)), x, options);

    /// <summary>Checks a function of one tensor.</summary>
    public static GradCheckReport Check(Func<Tensor, Tensor> f, Tensor x, GradCheckOptions? options = null) =>
        Check(t => TensorTree.Leaf(f(t[""])), TensorTree.Leaf(x), options);

    /// <summary>Like <see cref="Check(Func{TensorTree, TensorTree}, TensorTree, GradCheckOptions?)"/>, but
    /// throws <see cref="GradCheckException"/> when the check fails; returns the report otherwise.</summary>
    public static GradCheckReport Assert(Func<TensorTree, TensorTree> f, TensorTree x, GradCheckOptions? options = null)
    {
        var report = Check(f, x, options);
        return report.Passed ? report : throw new GradCheckException(report);
    }

    /// <summary>Asserting form for a scalar-valued function of a tree.</summary>
    public static GradCheckReport Assert(Func<TensorTree, Tensor> f, TensorTree x, GradCheckOptions? options = null) =>
        Assert(t => TensorTree.Leaf(f(t)), x, options);

    /// <summary>Asserting form for a function of one tensor.</summary>
    public static GradCheckReport Assert(Func<Tensor, Tensor> f, Tensor x, GradCheckOptions? options = null) =>
        Assert(t => TensorTree.Leaf(f(t[""])), TensorTree.Leaf(x), options);

    /// <summary>d&lt;v, f(x)&gt;/dx for every element of one leaf, by central differences.</summary>
    static Tensor NumericVjp(Func<TensorTree, TensorTree> f, TensorTree x, string path, TensorTree cotangent, double h)
    {
        using var noGrad = torch.no_grad();
        var leaf = x[path].clone();
        var flat = leaf.view(-1);
        var probe = x.Map((p, t) => p == path ? leaf : t);
        var result = torch.empty(leaf.numel(), dtype: ScalarType.Float64);
        for (long i = 0; i < flat.numel(); i++)
        {
            using var step = torch.NewDisposeScope();
            double original = flat[i].item<double>();
            flat[i] = original + h;
            double plus = Transforms.Dot(cotangent, f(probe)).item<double>();
            flat[i] = original - h;
            double minus = Transforms.Dot(cotangent, f(probe)).item<double>();
            flat[i] = original;
            result[i] = (plus - minus) / (2 * h);
        }
        return result.view(leaf.shape);
    }

    /// <summary>(f(x + h u) - f(x - h u)) / 2h, a tree like the output.</summary>
    static TensorTree NumericJvp(Func<TensorTree, TensorTree> f, TensorTree x, TensorTree u, double h)
    {
        using var noGrad = torch.no_grad();
        var plus = f(x.Zip(u, (a, b) => a + h * b));
        var minus = f(x.Zip(u, (a, b) => a - h * b));
        return plus.Zip(minus, (p, m) => (p - m) / (2 * h));
    }

    readonly record struct Finding(double Score, GradCheckReport Report);

    static Finding Compare(string check, TensorTree autodiff, TensorTree numeric, GradCheckOptions o)
    {
        var worst = new Finding(double.NegativeInfinity,
            new GradCheckReport(true, check, 0, 0, "", [], 0, 0));
        double maxAbs = 0, maxRel = 0;
        foreach (var (path, a) in autodiff)
        {
            var n = numeric[path].to_type(ScalarType.Float64);
            var a64 = a.detach().to_type(ScalarType.Float64);
            var abs = (a64 - n).abs();
            var bound = o.AbsoluteTolerance + o.RelativeTolerance * n.abs();
            var rel = abs / torch.maximum(torch.maximum(a64.abs(), n.abs()), torch.tensor(o.AbsoluteTolerance, dtype: ScalarType.Float64));
            if (abs.numel() == 0) continue;
            maxAbs = Math.Max(maxAbs, abs.max().item<double>());
            maxRel = Math.Max(maxRel, rel.max().item<double>());
            // NaN anywhere is a failure: make it the worst score.
            var score = torch.nan_to_num(abs / bound, nan: double.PositiveInfinity);
            long at = score.view(-1).argmax().item<long>();
            double s = score.view(-1)[at].item<double>();
            if (s > worst.Score)
                worst = new Finding(s, new GradCheckReport(
                    s <= 1, check, 0, 0, path, Unravel(at, a.shape),
                    a64.view(-1)[at].item<double>(), n.view(-1)[at].item<double>()));
        }
        return worst with { Report = worst.Report with { MaxAbsError = maxAbs, MaxRelError = maxRel } };
    }

    static Finding Worse(Finding a, Finding b)
    {
        var worst = b.Score > a.Score ? b : a;
        return worst with
        {
            Report = worst.Report with
            {
                Passed = a.Report.Passed && b.Report.Passed,
                MaxAbsError = Math.Max(a.Report.MaxAbsError, b.Report.MaxAbsError),
                MaxRelError = Math.Max(a.Report.MaxRelError, b.Report.MaxRelError),
            }
        };
    }

    static long[] Unravel(long flat, long[] shape)
    {
        var index = new long[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            index[d] = flat % shape[d];
            flat /= shape[d];
        }
        return index;
    }
}
