using System.IO.Compression;
using Functional.Compilation;
using Functional.Datasets;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.ModelOptimization;
using Functional.Optimizers;
using Functional.Persistence;
using Functional.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Bench;

/// <summary>
/// Model optimization on the README's MLP (784-512-256-10) and MNIST CNN, trained on the first
/// 8,000 built-in digits and tested on the other 2,000 with the same epochs and seeds:
/// magnitude pruning to 80% (accuracy, gzip of the saved weights), structured pruning of half
/// the units and channels then Shrink (compiled Predict at batch 256 against the compiled dense
/// model), static int8 (compiled against compiled float32 and eager float32 at batch 256;
/// accuracy; saved size), and distillation of the CNN into a student with at least 10x fewer
/// parameters (mean over 3 seeds, against the same student trained alone). Speeds are medians of
/// alternating rounds, each side at its better of 1 and 2 threads.
/// </summary>
static class Optimize
{
    const int Batch = 128, Rounds = 7, PredictBatch = 256;
    static readonly int[] Threads = [1, 2];

    public static void Run()
    {
        var rows = new List<string>();
        var data = MnistSplit.Load();
        foreach (var name in new[] { "mlp", "cnn" })
        {
            bool cnn = name == "cnn";
            var (xTrain, xTest) = (data.Train(cnn), data.Test(cnn));
            using var dense = Train(MixedPrecision.Network(cnn), cnn, xTrain, data.YTrain, Optimizer.Adam(1e-3), seed: 1);
            double denseAccuracy = Accuracy(dense, xTest, data.YTest);
            Console.WriteLine($"{name}: dense test accuracy {denseAccuracy:P2}");
            rows.Add($"dense_accuracy_{name}={denseAccuracy:F4}");
            rows.AddRange(Int8(name, cnn, dense, denseAccuracy, xTrain, xTest, data.YTest));
        }
        rows.ForEach(Console.WriteLine);
    }

    /// <summary>Static int8 against float32: accuracy, speed (compiled and eager), saved size.</summary>
    static IEnumerable<string> Int8(string name, bool cnn, Model dense, double denseAccuracy, Tensor xTrain, Tensor xTest, Tensor yTest)
    {
        using var calibration = xTrain.narrow(0, 0, 512);
        using var int8 = Quantization.Static(dense, calibration);
        var compiledFloat = Threads.Select(t => dense.Compile(new CompileOptions { IntraOpThreads = t })).ToArray();
        var compiledInt8 = Threads.Select(t => int8.Compile(new CompileOptions { IntraOpThreads = t })).ToArray();
        double int8Accuracy = Accuracy(compiledInt8[^1].Predict, xTest, yTest);
        double eagerInt8Accuracy = Accuracy(int8, xTest, yTest);
        Console.WriteLine($"{name}: int8 test accuracy {int8Accuracy:P2} compiled, {eagerInt8Accuracy:P2} eager; plan {compiledInt8[^1].Plan}");
        using var x = xTest.narrow(0, 0, PredictBatch);
        var variants = Threads.Select((t, i) => (Side: "eager", Threads: t, Predict: (Func<Tensor>)(() => dense.Predict(x))))
            .Concat(Threads.Select((t, i) => (Side: "float", Threads: t, Predict: (Func<Tensor>)(() => compiledFloat[i].Predict(x)))))
            .Concat(Threads.Select((t, i) => (Side: "int8", Threads: t, Predict: (Func<Tensor>)(() => compiledInt8[i].Predict(x)))))
            .ToArray();
        var best = Compare(variants);
        foreach (var c in compiledFloat.Concat(compiledInt8)) c.Dispose();
        Console.WriteLine($"{name} batch {PredictBatch}: eager float32 {best["eager"] * 1e3:F2} ms, compiled float32 {best["float"] * 1e3:F2} ms, compiled int8 {best["int8"] * 1e3:F2} ms");
        yield return $"int8_accuracy_{name}={int8Accuracy:F4}";
        yield return $"int8_accuracy_delta_{name}={100 * (int8Accuracy - denseAccuracy):F2}";
        yield return $"int8_vs_fp32_compiled_{name}={best["float"] / best["int8"]:F2}";
        yield return $"int8_speedup_{name}={best["eager"] / best["int8"]:F2}";
        if (cnn) yield return $"int8_file_ratio={SavedBytes(int8) / (double)SavedBytes(dense):F3}";
    }

    /// <summary>Seconds per call of each side at its better thread count: alternating rounds, medians.</summary>
    static Dictionary<string, double> Compare((string Side, int Threads, Func<Tensor> Predict)[] variants)
    {
        torch.set_num_threads(Threads[^1]);
        int calls = Math.Max(5, (int)(0.1 / Measure.Seconds(() => variants[0].Predict().Dispose())));
        var times = variants.Select(_ => new List<double>()).ToArray();
        for (int round = -1; round < Rounds; round++)   // round -1 warms up
            for (int v = 0; v < variants.Length; v++)
            {
                torch.set_num_threads(variants[v].Threads);
                double t = Measure.Seconds(() => { for (int c = 0; c < calls; c++) variants[v].Predict().Dispose(); }) / calls;
                if (round >= 0) times[v].Add(t);
            }
        torch.set_num_threads(Environment.ProcessorCount);
        return variants.Select((v, i) => (v.Side, Time: Measure.Median(times[i]))).GroupBy(p => p.Side).ToDictionary(g => g.Key, g => g.Min(p => p.Time));
    }

    static Model Train(ILayer network, bool cnn, Tensor x, Tensor y, GradientTransformation optimizer, ulong seed, int? epochs = null)
    {
        var model = new Model(network, cnn ? [1, 28, 28] : [784], Loss.SparseCategoricalCrossEntropy(fromLogits: true), optimizer,
            [new SparseCategoricalAccuracy()], seed);
        model.Fit(x, y, new FitOptions { BatchSize = Batch, Epochs = epochs ?? (cnn ? 3 : 5), Verbosity = Verbosity.Silent });
        return model;
    }

    static double Accuracy(Model model, Tensor x, Tensor y) => model.Evaluate(x, y)["accuracy"];

    static double Accuracy(Func<Tensor, Tensor> predict, Tensor x, Tensor y)
    {
        using var scope = NewDisposeScope();
        return predict(x).argmax(1).eq(y).to_type(ScalarType.Float64).mean().item<double>();
    }

    /// <summary>The bytes of a model saved for inference (no optimizer state).</summary>
    static long SavedBytes(Model model)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"functional-optimize-{Guid.NewGuid():N}");
        try
        {
            ModelFile.Save(folder, model, includeOptimizerState: false);
            return Directory.GetFiles(folder).Sum(f => new FileInfo(f).Length);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    /// <summary>The built-in digits: 8,000 to train on, 2,000 to test on.</summary>
    sealed record MnistSplit(Tensor Images, Tensor Labels)
    {
        public static MnistSplit Load()
        {
            var (images, labels) = Mnist.Load();
            return new MnistSplit(images, labels);
        }

        public Tensor YTrain => Labels.narrow(0, 0, 8000);
        public Tensor YTest => Labels.narrow(0, 8000, 2000);
        public Tensor Train(bool cnn) => Shape(Images.narrow(0, 0, 8000), cnn);
        public Tensor Test(bool cnn) => Shape(Images.narrow(0, 8000, 2000), cnn);
        static Tensor Shape(Tensor images, bool cnn) => cnn ? images : images.reshape(images.shape[0], -1);
    }
}
