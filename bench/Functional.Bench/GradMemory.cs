using System.Diagnostics;
using Functional.Autodiff;
using Functional.Diagnostics;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Bench;

/// <summary>
/// 10,000 calls of ValueAndGrad on a small MLP, each in a dispose scope as documented: resident
/// memory must stay flat. The anchor is the same loop written with TorchSharp's own
/// backward() into parameters' .grad, measured in the same run.
/// </summary>
static class GradMemory
{
    const int Calls = 10_000, WarmUp = 500;

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
        var anchorStart = ProcessMemory.ResidentMb();
        var anchorClock = Stopwatch.StartNew();
        Anchor(Calls);
        var anchorSeconds = anchorClock.Elapsed.TotalSeconds;
        var anchorEnd = ProcessMemory.ResidentMb();

        Ours(WarmUp);
        GC.Collect();
        var start = ProcessMemory.ResidentMb();
        var clock = Stopwatch.StartNew();
        Ours(Calls);
        var seconds = clock.Elapsed.TotalSeconds;
        GC.Collect();
        var end = ProcessMemory.ResidentMb();

        Console.WriteLine($"{Calls} ValueAndGrad calls of a 64-128-10 MLP, batch 32 ({seconds:F2} s; TorchSharp backward() loop {anchorSeconds:F2} s)");
        Console.WriteLine($"calls={Calls}");
        Console.WriteLine($"rss_start_mb={start:F1}");
        Console.WriteLine($"rss_end_mb={end:F1}");
        Console.WriteLine($"rss_growth_mb={end - start:F1}");
        Console.WriteLine($"torchsharp_backward_rss_growth_mb={anchorEnd - anchorStart:F1}");
        Console.WriteLine($"value_and_grad_vs_torchsharp_backward={anchorSeconds / seconds:F2}");
    }
}
