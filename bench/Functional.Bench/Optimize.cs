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
/// accuracy; saved size), and distillation of the MLP into a student with at least 10x fewer
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
            rows.AddRange(Sparse(name, cnn, dense, denseAccuracy, xTrain, data.YTrain, xTest, data.YTest));
            rows.AddRange(Structured(name, cnn, dense, denseAccuracy, xTrain, data.YTrain, xTest, data.YTest));
            rows.AddRange(Int8(name, cnn, dense, denseAccuracy, xTrain, xTest, data.YTest));
        }
        rows.AddRange(Distillation(data.Train(false), data.YTrain, data.Test(false), data.YTest));
        rows.Add($"prune_sparsity={sparsities.Average():F3}");
        rows.Add($"prune_compressed_ratio={compressed.Sum(c => c.Sparse) / (double)compressed.Sum(c => c.Dense):F3}");
        rows.ForEach(Console.WriteLine);
    }

    static readonly List<double> sparsities = [];
    static readonly List<(long Sparse, long Dense)> compressed = [];

    /// <summary>Structured pruning's schedule over the same epochs as the dense model: up to
    /// half the units from a fifth of the steps to two thirds, fine-tuned after.</summary>
    static PruningSchedule StructuredSchedule(bool cnn)
    {
        long steps = (cnn ? 3 : 5) * (8000 / Batch + 1);
        return PruningSchedule.Polynomial(0, 0.5, beginStep: steps / 5, endStep: steps * 2 / 3, frequency: 10);
    }

    /// <summary>
    /// Magnitude pruning of every kernel to 80%, from the start and within the dense model's own
    /// epochs: all kernels ranked together, tfmot's polynomial schedule (power 3, masks every 100
    /// steps) from 5% of the steps to two thirds; accuracy and gzip of the saved weights.
    /// </summary>
    static IEnumerable<string> Sparse(string name, bool cnn, Model dense, double denseAccuracy, Tensor xTrain, Tensor yTrain, Tensor xTest, Tensor yTest)
    {
        long steps = (cnn ? 3 : 5) * (8000 / Batch + 1);
        var optimizer = Pruning.Magnitude(Optimizer.Adam(1e-3), PruningSchedule.Polynomial(0, 0.8, beginStep: steps / 20, endStep: steps * 2 / 3),
            new PruningOptions { Scope = PruningScope.Global });
        using var pruned = Train(MixedPrecision.Network(cnn), cnn, xTrain, yTrain, optimizer, seed: 1);
        using var stripped = Pruning.Strip(pruned);
        double accuracy = Accuracy(stripped, xTest, yTest);
        var report = Pruning.Report(pruned);
        var (sparseBytes, denseBytes) = (GzippedWeights(stripped), GzippedWeights(dense));
        Console.WriteLine($"{name}: pruned to {report.Sparsity:P1}, test accuracy {accuracy:P2}; gzip of the weights {sparseBytes / 1024.0:F0} KiB vs {denseBytes / 1024.0:F0} KiB dense");
        Console.Write(report);
        sparsities.Add(report.Sparsity);
        compressed.Add((sparseBytes, denseBytes));
        yield return $"prune_accuracy_{name}={accuracy:F4}";
        yield return $"prune_accuracy_delta_{name}={100 * (accuracy - denseAccuracy):F2}";
        yield return $"prune_compressed_ratio_{name}={sparseBytes / (double)denseBytes:F3}";
    }

    /// <summary>Half the units and channels of every layer but the output, removed by Shrink:
    /// accuracy, and compiled Predict against the compiled dense model.</summary>
    static IEnumerable<string> Structured(string name, bool cnn, Model dense, double denseAccuracy, Tensor xTrain, Tensor yTrain, Tensor xTest, Tensor yTest)
    {
        string output = cnn ? "dense_1" : "dense_2";
        var options = new PruningOptions { Structure = PruningStructure.Units, Prunable = path => path.EndsWith("kernel") && !path.StartsWith(output) };
        using var pruned = Train(MixedPrecision.Network(cnn), cnn, xTrain, yTrain, Pruning.Magnitude(Optimizer.Adam(1e-3), StructuredSchedule(cnn), options), seed: 1);
        using var shrunk = Pruning.Shrink(pruned);
        double accuracy = Accuracy(shrunk, xTest, yTest);
        var compiledDense = Threads.Select(t => dense.Compile(new CompileOptions { IntraOpThreads = t })).ToArray();
        var compiledShrunk = Threads.Select(t => shrunk.Compile(new CompileOptions { IntraOpThreads = t })).ToArray();
        using var x = xTest.narrow(0, 0, PredictBatch);
        var best = Compare([.. Threads.Select((t, i) => (Side: "dense", Threads: t, Predict: (Func<Tensor>)(() => compiledDense[i].Predict(x))))
            .Concat(Threads.Select((t, i) => (Side: "shrunk", Threads: t, Predict: (Func<Tensor>)(() => compiledShrunk[i].Predict(x)))))]);
        foreach (var c in compiledDense.Concat(compiledShrunk)) c.Dispose();
        Console.WriteLine($"{name}: structured pruning to half the units, test accuracy {accuracy:P2}; compiled batch {PredictBatch}: dense {best["dense"] * 1e3:F2} ms, shrunk {best["shrunk"] * 1e3:F2} ms");
        Console.Write(shrunk.Summary());
        yield return $"structured_accuracy_{name}={accuracy:F4}";
        yield return $"structured_accuracy_delta_{name}={100 * (accuracy - denseAccuracy):F2}";
        yield return $"structured_speedup_{name}={best["dense"] / best["shrunk"]:F2}";
    }

    /// <summary>
    /// The MLP, trained 10 epochs, as teacher of a student with 10x fewer parameters (784-64-10),
    /// against the same student trained alone: 30 epochs each, mean test accuracy over 3 seeds.
    /// </summary>
    static IEnumerable<string> Distillation(Tensor xTrain, Tensor yTrain, Tensor xTest, Tensor yTest)
    {
        const int Epochs = 30;
        var loss = Loss.SparseCategoricalCrossEntropy(fromLogits: true);
        using var teacher = Train(MixedPrecision.Network(false), false, xTrain, yTrain, Optimizer.Adam(1e-3), seed: 1, epochs: 10);
        static ILayer Student() => new Sequential(new Dense(64, activation: ActivationFunction.Relu), new Dense(10));
        var distiller = new Distiller(teacher, temperature: 8, alpha: 0.3);
        var (alone, taught) = (new List<double>(), new List<double>());
        long studentParameters = 0, teacherParameters = teacher.State.Params.ScalarCount;
        foreach (ulong seed in new ulong[] { 1, 2, 3 })
        {
            var options = new FitOptions { BatchSize = Batch, Epochs = Epochs, Verbosity = Verbosity.Silent };
            using var plain = new Model(Student(), [784], loss, Optimizer.Adam(3e-3), [new SparseCategoricalAccuracy()], seed);
            plain.Fit(xTrain, yTrain, options);
            alone.Add(Accuracy(plain, xTest, yTest));
            using var student = distiller.Student(Student(), [784], loss, Optimizer.Adam(3e-3), [new SparseCategoricalAccuracy()], seed);
            student.Fit(xTrain, yTrain, options);
            taught.Add(Accuracy(student, xTest, yTest));
            studentParameters = student.State.Params.ScalarCount;
        }
        Console.WriteLine($"distillation: teacher {teacherParameters} parameters ({Accuracy(teacher, xTest, yTest):P2}), student {studentParameters} ({teacherParameters / (double)studentParameters:F1}x fewer); "
            + $"student alone {alone.Average():P2} ({string.Join(", ", alone.Select(a => a.ToString("P2")))}), with the teacher {taught.Average():P2} ({string.Join(", ", taught.Select(a => a.ToString("P2")))})");
        yield return $"distill_parameter_ratio={teacherParameters / (double)studentParameters:F1}";
        yield return $"distill_student_alone_accuracy={alone.Average():F4}";
        yield return $"distill_student_accuracy={taught.Average():F4}";
        yield return $"distill_gain={100 * (taught.Average() - alone.Average()):F2}";
    }

    /// <summary>The bytes of gzip over a model's saved weights (the safetensors file, no optimizer state).</summary>
    static long GzippedWeights(Model model)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"functional-optimize-{Guid.NewGuid():N}");
        try
        {
            ModelFile.Save(folder, model, includeOptimizerState: false);
            var weights = Directory.GetFiles(folder, "state*.safetensors").Single();
            using var output = new MemoryStream();
            using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
            using (var input = File.OpenRead(weights))
                input.CopyTo(gzip);
            return output.Length;
        }
        finally
        {
            Directory.Delete(folder, true);
        }
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
        double agreement;
        using (var floatClasses = dense.Predict(xTest).argmax(1))
            agreement = Accuracy(compiledInt8[^1].Predict, xTest, floatClasses);
        Console.WriteLine($"{name}: int8 test accuracy {int8Accuracy:P2} compiled, {eagerInt8Accuracy:P2} eager; the same class as float32 for {agreement:P2} of the test digits; plan {compiledInt8[^1].Plan}");
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
        yield return $"int8_same_class_as_fp32_{name}={agreement:F4}";
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
