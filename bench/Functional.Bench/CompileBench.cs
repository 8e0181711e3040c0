using Functional.Compilation;
using Functional.Layers;
using Functional.Losses;
using Functional.Optimizers;
using Functional.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Bench;

/// <summary>
/// Compiled against eager Predict, the README's MLP (784-512-256-10) and MNIST CNN, at batch 1,
/// 32 and 256. The thread count is process-wide in libtorch and per session in ONNX Runtime, so
/// each side runs with 1 and with 2 threads, set explicitly before each of its rounds, and is
/// credited with its better setting. Rounds alternate the four variants; medians of 7 rounds.
/// Compiled models run with the default spinning (during a call only), as on a shared machine.
/// Then the training step with a measured plan (see <see cref="TrainStep"/>).
/// </summary>
static class CompileBench
{
    const int Rounds = 7;
    static readonly int[] Threads = [1, 2];

    public static void Run()
    {
        var rows = new List<string>();
        foreach (var name in new[] { "mlp", "cnn" })
        {
            bool cnn = name == "cnn";
            long[] shape = cnn ? [1, 28, 28] : [784];
            using var model = new Model(MixedPrecision.Network(cnn), shape, Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(1e-3));
            var compiled = Threads.Select(t => model.Compile(new CompileOptions { IntraOpThreads = t })).ToArray();
            Console.WriteLine($"{name}: {compiled[^1].Plan}");
            foreach (long batch in new long[] { 1, 32, 256 })
            {
                using var x = torch.rand([batch, .. shape]);
                // Calls per measurement: about 0.1 s of eager work.
                torch.set_num_threads(Threads[^1]);
                model.Predict(x).Dispose();
                int calls = Math.Max(5, (int)(0.1 / Measure.Seconds(() => model.Predict(x).Dispose())));
                double PerCall(Func<Tensor> predict) => Measure.Seconds(() => { for (int c = 0; c < calls; c++) predict().Dispose(); }) / calls;
                var variants = Threads.Select((t, i) => (Side: "eager", Threads: t, Predict: (Func<Tensor>)(() => model.Predict(x))))
                    .Concat(Threads.Select((t, i) => (Side: "compiled", Threads: t, Predict: (Func<Tensor>)(() => compiled[i].Predict(x)))))
                    .ToArray();
                var times = variants.Select(_ => new List<double>()).ToArray();
                for (int round = -1; round < Rounds; round++)   // round -1 warms up
                    for (int v = 0; v < variants.Length; v++)
                    {
                        torch.set_num_threads(variants[v].Threads);
                        double t = PerCall(variants[v].Predict);
                        if (round >= 0) times[v].Add(t);
                    }
                (double Seconds, int Threads) Best(string side) => variants.Select((v, i) => (v, i)).Where(p => p.v.Side == side)
                    .Select(p => (Measure.Median(times[p.i]), p.v.Threads)).MinBy(p => p.Item1);
                var (eager, fast) = (Best("eager"), Best("compiled"));
                Console.WriteLine($"{name} batch {batch}: eager {eager.Seconds * 1e6:F0} us ({eager.Threads} threads), compiled {fast.Seconds * 1e6:F0} us ({fast.Threads})");
                rows.Add($"predict_eager_us_{name}_b{batch}={eager.Seconds * 1e6:F1}");
                rows.Add($"predict_compiled_us_{name}_b{batch}={fast.Seconds * 1e6:F1}");
                rows.Add($"predict_compiled_vs_eager_{name}_b{batch}={eager.Seconds / fast.Seconds:F2}");
            }
            foreach (var c in compiled) c.Dispose();
        }
        rows.AddRange(TrainStep());
        rows.ForEach(Console.WriteLine);
    }

    /// <summary>
    /// Fit with a measured step plan against Fit as it runs by default (libtorch's thread count,
    /// the machine's cores) and against Fit at the better of 1 and 2 threads, each set explicitly
    /// before its rounds; batch 8, 32 and 128, 7 alternating rounds of about 0.3 s, medians.
    /// </summary>
    static IEnumerable<string> TrainStep()
    {
        foreach (var name in new[] { "mlp", "cnn" })
        {
            bool cnn = name == "cnn";
            long[] shape = cnn ? [1, 28, 28] : [784];
            foreach (int batch in new[] { 8, 32, 128 })
            {
                const int batches = 20;
                using var x = torch.rand([batch * batches, .. shape]);
                using var y = torch.randint(0, 10, [batch * batches]);
                using var model = new Model(MixedPrecision.Network(cnn), shape, Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(1e-3));
                var options = new FitOptions { BatchSize = batch, Shuffle = false, Verbosity = Verbosity.Silent };
                // Plan once (as Fit does with TrainingPlan.Measured), then pinned for every round.
                model.Fit(x, y, options with { Epochs = 2, Plan = TrainingPlan.Measured });
                var plan = model.Plan!;
                double Rate(int threads, int epochs)
                {
                    torch.set_num_threads(threads);
                    return epochs * batches / Measure.Seconds(() => model.Fit(x, y, options with { Epochs = epochs }));
                }
                int epochsPerRound = Math.Max(1, (int)(0.3 * Rate(Environment.ProcessorCount, 2) / batches));
                var sides = new[] { Environment.ProcessorCount, 1, plan.Threads };
                var rates = sides.Select(_ => new List<double>()).ToArray();
                for (int round = 0; round < Rounds; round++)
                    for (int i = 0; i < sides.Length; i++) rates[i].Add(Rate(sides[i], epochsPerRound));
                double byDefault = Measure.Median(rates[0]), oneThread = Measure.Median(rates[1]), planned = Measure.Median(rates[2]);
                Console.WriteLine($"{name} batch {batch}: plan {plan}; default {byDefault:F1} steps/s, 1 thread {oneThread:F1}, planned {planned:F1}");
                yield return $"step_compiled_vs_eager_{name}_b{batch}={planned / byDefault:F2}";
                yield return $"step_compiled_vs_best_eager_{name}_b{batch}={planned / Math.Max(byDefault, oneThread):F2}";
            }
        }
        torch.set_num_threads(Environment.ProcessorCount);
    }
}
