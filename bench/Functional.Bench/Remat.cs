using System.Diagnostics;
using Functional.Autodiff;
using Functional.Diagnostics;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Bench;

/// <summary>
/// What Checkpoint saves: a deep residual tanh MLP (32 blocks of 512 units, batch 1024), one
/// gradient, with and without each block checkpointed. Each variant runs in its own process so
/// its peak resident memory (VmHWM) is its own; the extra time of recomputation is reported too.
/// The anchor is the plain function: same model, same run.
/// </summary>
static class Remat
{
    const int Blocks = 32, Width = 512, Batch = 1024;

    public static void Run()
    {
        var plain = Child("plain");
        var checkpointed = Child("checkpointed");
        Console.WriteLine($"one gradient of a {Blocks}-block residual MLP, width {Width}, batch {Batch}");
        Console.WriteLine($"peak_mb_plain={plain["peak_mb"]:F0}");
        Console.WriteLine($"peak_mb_checkpointed={checkpointed["peak_mb"]:F0}");
        Console.WriteLine($"activation_mb_plain={plain["activation_mb"]:F0}");
        Console.WriteLine($"activation_mb_checkpointed={checkpointed["activation_mb"]:F0}");
        Console.WriteLine($"checkpoint_time_ratio={checkpointed["seconds"] / plain["seconds"]:F2}");
        Console.WriteLine($"gradients_match={(Math.Abs(plain["grad_norm"] - checkpointed["grad_norm"]) <= 1e-4 * plain["grad_norm"] ? 1 : 0)}");
    }

    // glibc keeps freed 2 MB blocks in its heap once it has raised its mmap threshold, so
    // resident memory would show what the allocator kept, not what tensors hold. Returning
    // every block over 64 KB to the system makes the peak track live tensors.
    static Dictionary<string, double> Child(string mode) =>
        ChildProcess.Run(new Dictionary<string, string> { ["MALLOC_MMAP_THRESHOLD_"] = "65536" }, "remat-child", mode);

    public static void RunChild(string[] args)
    {
        bool checkpointed = args.FirstOrDefault() == "checkpointed";
        torch.manual_seed(0);
        var parameters = TensorTree.FromLeaves(Enumerable.Range(0, Blocks)
            .Select(i => ($"block{i}/kernel", torch.randn(Width, Width) / Math.Sqrt(Width))));
        var x = torch.randn(Batch, Width);

        // One block: h + tanh(h W) twice, so each block stores several activations.
        static Tensor Block(Tensor h, Tensor w) => h + torch.tanh(torch.tanh(h.matmul(w)).matmul(w));
        var rematBlock = Transforms.Checkpoint(t => TensorTree.Leaf(Block(t["h"], t["w"])));

        Tensor Loss(TensorTree p)
        {
            var h = x;
            for (int i = 0; i < Blocks; i++)
            {
                var w = p[$"block{i}/kernel"];
                h = checkpointed ? rematBlock(TensorTree.Of(("h", h), ("w", w)))[""] : Block(h, w);
            }
            return h.pow(2).mean();
        }

        var baseline = ProcessMemory.ResidentMb();
        var clock = Stopwatch.StartNew();
        var gradient = Transforms.Grad(Loss)(parameters);
        var seconds = clock.Elapsed.TotalSeconds;
        var peak = ProcessMemory.PeakResidentMb();
        Console.WriteLine($"peak_mb={peak:F1}");
        Console.WriteLine($"activation_mb={peak - baseline:F1}");
        Console.WriteLine($"seconds={seconds:F3}");
        Console.WriteLine($"grad_norm={gradient.Flatten().norm().item<float>():G9}");
    }
}
