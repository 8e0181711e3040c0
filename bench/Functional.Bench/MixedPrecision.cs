using Functional.Datasets;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Bench;

/// <summary>
/// Mixed precision against float32, Fit, the README's MLP (784-512-256-10) and MNIST CNN at
/// batch 128: steps per second of the three policies in one process, alternating round by
/// round after a warm-up, from the same starting parameters (medians of the rounds); then MNIST
/// test accuracy after the same epochs, bfloat16 against float32, mean over three seeds.
/// </summary>
static class MixedPrecision
{
    const int Batch = 128, Rounds = 7, BatchesInData = 20;

    public static void Run()
    {
        var rows = new List<string>();
        foreach (var model in new[] { "mlp", "cnn" })
        {
            var speed = ChildProcess.Run(null, "mixed-child", "speed", model);
            double fp32 = speed["float32"], bf16 = speed["mixed_bfloat16"], fp16 = speed["mixed_float16"];
            Console.WriteLine($"{model}: float32 {fp32:F1} steps/s, mixed_bfloat16 {bf16:F1}, mixed_float16 {fp16:F1}");
            rows.Add($"{model}_fp32_steps_per_s={fp32:F1}");
            rows.Add($"{model}_bf16_steps_per_s={bf16:F1}");
            rows.Add($"{model}_fp16_steps_per_s={fp16:F1}");
            rows.Add($"{model}_bf16_vs_fp32={bf16 / fp32:F2}");
            rows.Add($"{model}_fp16_vs_fp32={fp16 / fp32:F2}");
        }
        var deltas = new List<double>();
        foreach (var model in new[] { "mlp", "cnn" })
        {
            var accuracy = ChildProcess.Run(null, "mixed-child", "accuracy", model);
            double delta = 100 * (accuracy["mixed_bfloat16"] - accuracy["float32"]);
            Console.WriteLine($"{model}: test accuracy float32 {accuracy["float32"]:P2}, mixed_bfloat16 {accuracy["mixed_bfloat16"]:P2} (mean of 3 seeds)");
            rows.Add($"{model}_fp32_accuracy={accuracy["float32"]:F4}");
            rows.Add($"{model}_bf16_accuracy={accuracy["mixed_bfloat16"]:F4}");
            rows.Add($"{model}_bf16_accuracy_delta={delta:F2}");
            deltas.Add(delta);
        }
        rows.Add($"bf16_accuracy_delta={deltas.Min():F2}");
        rows.ForEach(Console.WriteLine);
    }

    public static void RunChild(string[] args)
    {
        string what = args[0];
        bool cnn = args[1] == "cnn";
        torch.set_num_threads(Environment.ProcessorCount);
        if (what == "speed") Speed(cnn);
        else Accuracy(cnn);
    }

    static void Speed(bool cnn)
    {
        torch.manual_seed(0);
        int steps = cnn ? 40 : 200;
        long[] inputShape = cnn ? [1, 28, 28] : [784];
        var x = torch.rand([Batch * BatchesInData, .. inputShape]);
        var y = torch.randint(0, 10, [Batch * BatchesInData]);
        var models = PrecisionPolicy.All.Select(policy =>
            new Model(Network(cnn), inputShape, Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(1e-3), precision: policy)).ToArray();
        // Same starting parameters for all three.
        foreach (var m in models.Skip(1)) m.RestoreVariables(models[0].State.Params.Clone(), models[0].State.ModelState.Clone());
        var options = new FitOptions { BatchSize = Batch, Shuffle = false, Verbosity = Verbosity.Silent };
        void Fit(Model m, int n) => m.Fit(x, y, options with { Epochs = n / BatchesInData });
        // float16 is emulated on CPUs without AVX512-FP16: fewer steps keep its rounds short.
        int StepsOf(Model m) => m.Precision == PrecisionPolicy.MixedFloat16 ? BatchesInData : steps;
        foreach (var m in models) Fit(m, StepsOf(m));
        var rates = models.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < Rounds; round++)
            for (int i = 0; i < models.Length; i++)
                rates[i].Add(StepsOf(models[i]) / Measure.Seconds(() => Fit(models[i], StepsOf(models[i]))));
        for (int i = 0; i < models.Length; i++) Console.WriteLine($"{models[i].Precision.Name}={Measure.Median(rates[i]):F2}");
        foreach (var m in models) m.Dispose();
    }

    static void Accuracy(bool cnn)
    {
        var (images, labels) = Mnist.Load();
        long train = 8000;
        var (xTrain, yTrain) = (images.narrow(0, 0, train), labels.narrow(0, 0, train));
        var (xTest, yTest) = (images.narrow(0, train, images.shape[0] - train), labels.narrow(0, train, images.shape[0] - train));
        if (!cnn) (xTrain, xTest) = (xTrain.flatten(1), xTest.flatten(1));
        foreach (var policy in new[] { PrecisionPolicy.Float32, PrecisionPolicy.MixedBFloat16 })
        {
            var accuracies = new List<double>();
            for (ulong seed = 0; seed < 3; seed++)
            {
                using var model = new Model(Network(cnn), cnn ? [1, 28, 28] : [784], Loss.SparseCategoricalCrossEntropy(fromLogits: true),
                    Optimizer.Adam(1e-3), [new SparseCategoricalAccuracy()], seed, policy);
                model.Fit(xTrain, yTrain, new FitOptions { BatchSize = Batch, Epochs = cnn ? 3 : 5, Verbosity = Verbosity.Silent });
                accuracies.Add(model.Evaluate(xTest, yTest)["accuracy"]);
            }
            Console.WriteLine($"{policy.Name}={accuracies.Average():F5}");
        }
    }

    /// <summary>The README's networks.</summary>
    internal static ILayer Network(bool cnn) => cnn
        ? new Sequential(
            new Conv2D(32, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
            new Conv2D(64, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
            new Flatten(), new Dense(128, activation: ActivationFunction.Relu), new Dense(10))
        : new Sequential(
            new Dense(512, activation: ActivationFunction.Relu), new Dense(256, activation: ActivationFunction.Relu), new Dense(10));
}
