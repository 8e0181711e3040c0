using System.Diagnostics;
using Functional.Diagnostics;
using Functional.Layers;
using Functional.Losses;
using Functional.Optimizers;
using Functional.Runtime;
using Functional.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Bench;

/// <summary>
/// A Fit step against a hand-written TorchSharp loop (nn.Module, optim.Adam, backward), same
/// model, batch 128, Adam, synthetic data in memory: an MLP 784-512-256-10 and a small CNN
/// (2 conv + 2 dense on 28x28). The hand-written loop runs twice: as people write it, and with
/// the allocator tuned as Fit tunes it. Each run is its own process (the allocator setting is
/// per process); the three variants alternate over rounds and the medians are compared.
/// </summary>
static class FitSpeed
{
    const int Batch = 128, Rounds = 3;
    static readonly string[] Variants = ["torchsharp", "torchsharp-tuned", "functional"];

    public static void Run()
    {
        var results = new Dictionary<(string Model, string Variant), List<double>>();
        foreach (var model in new[] { "mlp", "cnn" })
            for (int round = 0; round < Rounds; round++)
                foreach (var variant in Variants)
                {
                    var r = ChildProcess.Run(null, "fit-child", model, variant);
                    (results.TryGetValue((model, variant), out var list) ? list : results[(model, variant)] = []).Add(r["steps_per_s"]);
                }
        double Median(string model, string variant) => results[(model, variant)].Order().ElementAt(Rounds / 2);
        foreach (var model in new[] { "mlp", "cnn" })
            Console.WriteLine($"{model}: Fit {Median(model, "functional"):F1} steps/s; hand-written TorchSharp {Median(model, "torchsharp"):F1} " +
                              $"(allocator tuned: {Median(model, "torchsharp-tuned"):F1})");
        var growth = ChildProcess.Run(null, "fit-child", "mlp", "functional-long");
        foreach (var model in new[] { "mlp", "cnn" })
        {
            Console.WriteLine($"{model}_fit_steps_per_s={Median(model, "functional"):F1}");
            Console.WriteLine($"{model}_torchsharp_steps_per_s={Median(model, "torchsharp"):F1}");
            Console.WriteLine($"{model}_torchsharp_tuned_steps_per_s={Median(model, "torchsharp-tuned"):F1}");
        }
        foreach (var model in new[] { "mlp", "cnn" })
        {
            Console.WriteLine($"{model}_fit_vs_torchsharp={Median(model, "functional") / Median(model, "torchsharp"):F2}");
            Console.WriteLine($"{model}_fit_vs_torchsharp_tuned={Median(model, "functional") / Median(model, "torchsharp-tuned"):F2}");
        }
        Console.WriteLine($"rss_growth_mb={growth["rss_growth_mb"]:F1}");
        Console.WriteLine($"rss_growth_steps={growth["steps"]:F0}");
    }

    public static void RunChild(string[] args)
    {
        string model = args[0], variant = args[1];
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        bool cnn = model == "cnn";
        int warmUp = cnn ? 40 : 160, steps = cnn ? 120 : 600;
        if (variant == "functional-long") (warmUp, steps) = (500, 5000);
        long[] inputShape = cnn ? [1, 28, 28] : [784];
        var x = torch.randn([Batch * 20, .. inputShape]);
        var y = torch.randint(0, 10, [Batch * 20]);

        double seconds;
        double rssStart, rssEnd;
        if (variant.StartsWith("functional"))
        {
            using var fitModel = new Model(Network(cnn), inputShape, Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(1e-3));
            var options = new FitOptions { BatchSize = Batch, Shuffle = false, Verbosity = Verbosity.Silent };
            // The data is 20 batches: n steps are n / 20 epochs.
            void Fit(int n) => fitModel.Fit(x, y, options with { Epochs = n / 20 });
            Fit(warmUp);
            GC.Collect();
            rssStart = ProcessMemory.ResidentMb();
            var clock = Stopwatch.StartNew();
            Fit(steps);
            seconds = clock.Elapsed.TotalSeconds;
            GC.Collect();
            rssEnd = ProcessMemory.ResidentMb();
        }
        else
        {
            if (variant == "torchsharp-tuned") NativeAllocator.Tune();
            var net = TorchSharpNetwork(cnn);
            var optimizer = torch.optim.Adam(net.parameters(), 1e-3);
            var lossFunction = torch.nn.CrossEntropyLoss();
            void Train(int n)
            {
                for (int i = 0; i < n; i++)
                {
                    using var scope = torch.NewDisposeScope();
                    long start = (long)i * Batch % x.shape[0];
                    optimizer.zero_grad();
                    var loss = lossFunction.call(net.call(x.narrow(0, start, Batch)), y.narrow(0, start, Batch));
                    loss.backward();
                    optimizer.step();
                    loss.item<float>();
                }
            }
            Train(warmUp);
            rssStart = ProcessMemory.ResidentMb();
            var clock = Stopwatch.StartNew();
            Train(steps);
            seconds = clock.Elapsed.TotalSeconds;
            rssEnd = ProcessMemory.ResidentMb();
        }
        Console.WriteLine($"steps_per_s={steps / seconds:F2}");
        Console.WriteLine($"steps={steps}");
        Console.WriteLine($"rss_growth_mb={rssEnd - rssStart:F1}");
    }

    static ILayer Network(bool cnn) => cnn
        ? new Sequential(
            new Conv2D(32, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
            new Conv2D(64, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
            new Flatten(), new Dense(128, activation: ActivationFunction.Relu), new Dense(10))
        : new Sequential(
            new Dense(512, activation: ActivationFunction.Relu), new Dense(256, activation: ActivationFunction.Relu), new Dense(10));

    static torch.nn.Module<Tensor, Tensor> TorchSharpNetwork(bool cnn) => cnn
        ? torch.nn.Sequential(
            ("conv1", torch.nn.Conv2d(1, 32, 3)), ("relu1", torch.nn.ReLU()), ("pool1", torch.nn.MaxPool2d(2)),
            ("conv2", torch.nn.Conv2d(32, 64, 3)), ("relu2", torch.nn.ReLU()), ("pool2", torch.nn.MaxPool2d(2)),
            ("flatten", torch.nn.Flatten()), ("fc1", torch.nn.Linear(1600, 128)), ("relu3", torch.nn.ReLU()), ("fc2", torch.nn.Linear(128, 10)))
        : torch.nn.Sequential(
            ("fc1", torch.nn.Linear(784, 512)), ("relu1", torch.nn.ReLU()),
            ("fc2", torch.nn.Linear(512, 256)), ("relu2", torch.nn.ReLU()), ("fc3", torch.nn.Linear(256, 10)));
}
