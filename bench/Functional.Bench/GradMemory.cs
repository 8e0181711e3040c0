using Functional.Autodiff;
using Functional.Diagnostics;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Bench;

/// <summary>
/// 10,000 calls of ValueAndGrad on a small MLP, each in a dispose scope as documented: resident
/// memory must stay flat. The anchor for speed is the same loop written with TorchSharp's own
/// backward() into parameters' .grad, measured in the same run, alternating.
/// </summary>
static class GradMemory
{
    const int Calls = 10_000, WarmUp = 1_000, Rounds = 7, CallsPerRound = 1_000;

    public static void Run()
    {
        torch.manual_seed(0);
        var parameters = TensorTree.Of(
            ("w1", torch.randn(64, 128)), ("b1", torch.zeros(128)), ("w2", torch.randn(128, 10)), ("b2", torch.zeros(10)));
        var x = torch.randn(32, 64);
        Tensor Loss(TensorTree p) => ((x.matmul(p["w1"]) + p["b1"]).tanh().matmul(p["w2"]) + p["b2"]).pow(2).mean();
        var valueAndGrad = Transforms.ValueAndGrad(Loss);

        void Ours(int n)
        {
            for (int i = 0; i < n; i++)
            {
                using var scope = torch.NewDisposeScope();
                valueAndGrad(parameters);
            }
        }

        var leaves = parameters.Map(t => t.detach().clone().requires_grad_(true));
        void Anchor(int n)
        {
            for (int i = 0; i < n; i++)
            {
                using var scope = torch.NewDisposeScope();
                foreach (var t in leaves.Leaves) t.grad = null;
                Loss(leaves).backward();
            }
        }

        Anchor(WarmUp);
        Ours(WarmUp);
        // Speed: alternate the two sides in rounds (the machines are noisy), take medians.
        var anchorTimes = new List<double>();
        var ourTimes = new List<double>();
        for (int round = 0; round < Rounds; round++)
        {
            anchorTimes.Add(Measure.Seconds(() => Anchor(CallsPerRound)));
            ourTimes.Add(Measure.Seconds(() => Ours(CallsPerRound)));
        }

        // Memory: resident set before and after 10,000 more calls.
        GC.Collect();
        var start = ProcessMemory.ResidentMb();
        Ours(Calls);
        GC.Collect();
        var end = ProcessMemory.ResidentMb();

        double ourMicros = Measure.Median(ourTimes) / CallsPerRound * 1e6, anchorMicros = Measure.Median(anchorTimes) / CallsPerRound * 1e6;
        Console.WriteLine($"ValueAndGrad of a 64-128-10 MLP, batch 32: {ourMicros:F0} us/call; hand-written backward() loop {anchorMicros:F0} us/call");
        Console.WriteLine($"calls={Calls}");
        Console.WriteLine($"rss_start_mb={start:F1}");
        Console.WriteLine($"rss_end_mb={end:F1}");
        Console.WriteLine($"rss_growth_mb={end - start:F1}");
        Console.WriteLine($"value_and_grad_us={ourMicros:F1}");
        Console.WriteLine($"torchsharp_backward_us={anchorMicros:F1}");
        Console.WriteLine($"value_and_grad_vs_torchsharp_backward={anchorMicros / ourMicros:F2}");
    }
}
