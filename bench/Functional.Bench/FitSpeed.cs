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
/// A Fit step against a hand-written TorchSharp loop (nn.Module, optim.Adam, backward, the loss
/// read every step), same model, batch 128, Adam, synthetic data in memory: an MLP
/// 784-512-256-10 and a small CNN (2 conv + 2 dense on 28x28). The allocator setting is per
/// process, so the hand-written loop as people write it runs in a process of its own; Fit and
/// the hand-written loop with the allocator tuned as Fit tunes it alternate in another, round
/// by round after a long warm-up, from the same starting parameters. Medians of the rounds are
/// compared. Then the same beside a busy process per core (started and stopped by the benchmark).
/// </summary>
static class FitSpeed
{
    const int Batch = 128, Rounds = 5, BatchesInData = 20;

    /// <summary>The hand-written loop as people write it runs with libgomp's own spin count (our
    /// module initializer would otherwise bound it in that process too; see OpenMpSpinning).</summary>
    static readonly Dictionary<string, string> AsPeopleRunIt = new() { ["GOMP_SPINCOUNT"] = "300000" };

    public static void Run()
    {
        var rows = new List<string>();
        foreach (var contended in new[] { false, true })
        {
            // Contended: a busy process per core, started and stopped here, beside both children.
            using var load = contended ? CpuLoad.Start(Environment.ProcessorCount) : null;
            string suffix = contended ? "_contended" : "";
            foreach (var model in new[] { "mlp", "cnn" })
            {
                string[] mode = contended ? ["contended"] : [];
                var plain = ChildProcess.Run(AsPeopleRunIt, ["fit-child", model, "plain", .. mode]);
                var tuned = ChildProcess.Run(null, ["fit-child", model, "tuned", .. mode]);
                double fit = tuned["fit_steps_per_s"], handTuned = tuned["torchsharp_steps_per_s"], hand = plain["torchsharp_steps_per_s"];
                Console.WriteLine($"{model}{(contended ? " beside a busy process per core" : "")}: Fit {fit:F1} steps/s; hand-written TorchSharp {hand:F1}, with the allocator tuned {handTuned:F1}");
                rows.Add($"{model}_fit_steps_per_s{suffix}={fit:F1}");
                rows.Add($"{model}_torchsharp_steps_per_s{suffix}={hand:F1}");
                rows.Add($"{model}_torchsharp_tuned_steps_per_s{suffix}={handTuned:F1}");
                rows.Add($"{model}_fit_vs_torchsharp{suffix}={fit / hand:F2}");
                rows.Add($"{model}_fit_vs_torchsharp_tuned{suffix}={fit / handTuned:F2}");
            }
        }
        var growth = ChildProcess.Run(null, "fit-child", "mlp", "memory");
        rows.Add($"rss_growth_mb={growth["rss_growth_mb"]:F1}");
        rows.Add($"rss_growth_steps={growth["steps"]:F0}");
        rows.ForEach(Console.WriteLine);
    }

    public static void RunChild(string[] args)
    {
        string model = args[0], mode = args[1];
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        bool cnn = model == "cnn";
        // Under load a round takes fewer steps (the same order of seconds).
        int steps = (cnn ? 60 : 300) / (args.Length > 2 && args[2] == "contended" ? 3 : 1);
        long[] inputShape = cnn ? [1, 28, 28] : [784];
        var x = torch.randn([Batch * BatchesInData, .. inputShape]);
        var y = torch.randint(0, 10, [Batch * BatchesInData]);

        if (mode == "plain")
        {
            var hand = HandWritten(cnn, x, y);
            hand(steps);
            Console.WriteLine($"torchsharp_steps_per_s={Measure.Median(Enumerable.Range(0, Rounds).Select(_ => steps / Measure.Seconds(() => hand(steps)))):F2}");
            return;
        }
        NativeAllocator.Tune();
        using var fitModel = new Model(MixedPrecision.Network(cnn), inputShape, Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(1e-3));
        var options = new FitOptions { BatchSize = Batch, Shuffle = false, Verbosity = Verbosity.Silent };
        // The data is BatchesInData batches: n steps are n / BatchesInData epochs.
        void Fit(int n) => fitModel.Fit(x, y, options with { Epochs = n / BatchesInData });
        if (mode == "memory")
        {
            Fit(500);
            GC.Collect();
            double start = ProcessMemory.ResidentMb();
            Fit(5000);
            GC.Collect();
            Console.WriteLine($"rss_growth_mb={ProcessMemory.ResidentMb() - start:F1}");
            Console.WriteLine("steps=5000");
            return;
        }
        var (tunedHand, module) = HandWrittenWithModule(cnn, x, y);
        // Same starting parameters on both sides: CPU kernels run at speeds that depend on the
        // values (the two libraries' default initialisers differ), and only the library should.
        fitModel.RestoreVariables(ParametersOf(module, fitModel.State.Params), fitModel.State.ModelState);
        Fit(steps);
        tunedHand(steps);
        var fitRates = new List<double>();
        var handRates = new List<double>();
        for (int round = 0; round < Rounds; round++)
        {
            handRates.Add(steps / Measure.Seconds(() => tunedHand(steps)));
            fitRates.Add(steps / Measure.Seconds(() => Fit(steps)));
        }
        Console.WriteLine($"fit_steps_per_s={Measure.Median(fitRates):F2}");
        Console.WriteLine($"torchsharp_steps_per_s={Measure.Median(handRates):F2}");
    }

    /// <summary>A copy of the module's parameters under our paths (Linear's (out, in) weight
    /// becomes Dense's (in, units) kernel).</summary>
    static Trees.TensorTree ParametersOf(torch.nn.Module<Tensor, Tensor> module, Trees.TensorTree template)
    {
        var values = module.parameters().Select(p => p.detach()).ToArray();
        if (values.Length != template.Count) throw new InvalidOperationException("The two networks differ.");
        return template.WithLeaves([.. values.Select((v, i) =>
            (template.Paths[i].EndsWith("kernel") && v.dim() == 2 ? v.t() : v).contiguous().clone())]);
    }

    static Action<int> HandWritten(bool cnn, Tensor x, Tensor y) => HandWrittenWithModule(cnn, x, y).Train;

    /// <summary>The loop as people write it: zero_grad, forward, loss, backward, step, read the loss.</summary>
    static (Action<int> Train, torch.nn.Module<Tensor, Tensor> Module) HandWrittenWithModule(bool cnn, Tensor x, Tensor y)
    {
        var net = TorchSharpNetwork(cnn);
        var optimizer = torch.optim.Adam(net.parameters(), 1e-3);
        var lossFunction = torch.nn.CrossEntropyLoss();
        int next = 0;
        return (steps =>
        {
            for (int i = 0; i < steps; i++, next++)
            {
                using var scope = torch.NewDisposeScope();
                long start = (long)(next % BatchesInData) * Batch;
                optimizer.zero_grad();
                var loss = lossFunction.call(net.call(x.narrow(0, start, Batch)), y.narrow(0, start, Batch));
                loss.backward();
                optimizer.step();
                loss.item<float>();
            }
        }, net);
    }

    static torch.nn.Module<Tensor, Tensor> TorchSharpNetwork(bool cnn) => cnn
        ? torch.nn.Sequential(
            ("conv1", torch.nn.Conv2d(1, 32, 3)), ("relu1", torch.nn.ReLU()), ("pool1", torch.nn.MaxPool2d(2)),
            ("conv2", torch.nn.Conv2d(32, 64, 3)), ("relu2", torch.nn.ReLU()), ("pool2", torch.nn.MaxPool2d(2)),
            ("flatten", torch.nn.Flatten()), ("fc1", torch.nn.Linear(1600, 128)), ("relu3", torch.nn.ReLU()), ("fc2", torch.nn.Linear(128, 10)))
        : torch.nn.Sequential(
            ("fc1", torch.nn.Linear(784, 512)), ("relu1", torch.nn.ReLU()),
            ("fc2", torch.nn.Linear(512, 256)), ("relu2", torch.nn.ReLU()), ("fc3", torch.nn.Linear(256, 10)));
}
