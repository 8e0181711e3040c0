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
        rows.ForEach(Console.WriteLine);
    }
}
