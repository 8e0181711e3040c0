using System.Diagnostics;
using Functional.Layers;
using Functional.Losses;
using Functional.Optimizers;
using Functional.Profiling;
using Functional.Training;
using TorchSharp;

namespace Functional.Bench;

/// <summary>
/// The profiler example end to end (the MNIST CNN on a slow stream, profiled, then on the fixed
/// stream, profiled again: input_wait_share_before and _after), and what profiling costs, on the
/// same CNN with in-memory data, batch 128: Fit without a profiler, with one recording every
/// step, and with one that records none, alternating round by round after a warm-up. Each
/// round's Fit is timed by the wall clock (the profiler's own work between steps included);
/// the overheads are medians of the per-round ratios to the plain Fit.
/// </summary>
static class ProfileBench
{
    const int Batch = 128, Steps = 20, Rounds = 9;

    public static void Run()
    {
        var example = Path.Combine(AppContext.BaseDirectory, "../../../../../examples/CSharpProfile/bin/Release/net10.0/CSharpProfile.dll");
        var shares = RunExample(Path.GetFullPath(example));
        var overhead = ChildProcess.Run(null, "profile-child");
        Console.WriteLine($"input_wait_share_before={shares["input_wait_share_before"]:F4}");
        Console.WriteLine($"input_wait_share_after={shares["input_wait_share_after"]:F4}");
        Console.WriteLine($"profiler_overhead={overhead["profiler_overhead"]:F4}");
        Console.WriteLine($"profiler_off_overhead={overhead["profiler_off_overhead"]:F4}");
    }

    static Dictionary<string, double> RunExample(string dll)
    {
        var info = new ProcessStartInfo("dotnet", [dll, "--train", "8000"]) { RedirectStandardOutput = true };
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Console.Error.Write(output);
        if (process.ExitCode != 0) throw new InvalidOperationException($"the profiler example failed:\n{output}");
        return output.Split('\n').Select(l => l.Split('=')).Where(p => p.Length == 2 && double.TryParse(p[1], out _))
            .ToDictionary(p => p[0].Trim(), p => double.Parse(p[1]));
    }

    public static void RunChild()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        var x = torch.rand([Batch * Steps, 1, 28, 28]);
        var y = torch.randint(0, 10, [Batch * Steps]);
        using var plain = Cnn();
        using var profiled = Cnn();
        using var off = Cnn();
        double Time(Model model, Profiler? profiler) => Measure.Seconds(() => model.Fit(x, y, new FitOptions
        {
            Epochs = 1, BatchSize = Batch, Shuffle = false, Verbosity = Verbosity.Silent, Callbacks = profiler is null ? [] : [profiler],
        }));
        Profiler Everything() => new(firstStep: 0, steps: int.MaxValue);
        Profiler Nothing() => new(firstStep: 0, steps: 0);
        for (int i = 0; i < 2; i++)
        {
            Time(plain, null);
            Time(profiled, Everything());
            Time(off, Nothing());
        }
        var (withProfile, withOff) = (new List<double>(), new List<double>());
        for (int round = 0; round < Rounds; round++)
        {
            // Each round runs the three in a different order, so drift favours none of them.
            double p = 0, r = 0, o = 0;
            foreach (int which in round % 3 == 0 ? [0, 1, 2] : round % 3 == 1 ? [1, 2, 0] : new[] { 2, 0, 1 })
            {
                if (which == 0) p = Time(plain, null);
                else if (which == 1) r = Time(profiled, Everything());
                else o = Time(off, Nothing());
            }
            Console.Error.WriteLine($"round {round}: plain {1000 * p / Steps:F1} ms/step, profiled {1000 * r / Steps:F1}, profiler off {1000 * o / Steps:F1}");
            withProfile.Add(r / p);
            withOff.Add(o / p);
        }
        Console.WriteLine($"profiler_overhead={Measure.Median(withProfile) - 1:F4}");
        Console.WriteLine($"profiler_off_overhead={Measure.Median(withOff) - 1:F4}");
    }

    static Model Cnn() => new(
        new Sequential(
            new Conv2D(32, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
            new Conv2D(64, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
            new Flatten(), new Dense(128, activation: ActivationFunction.Relu), new Dense(10)),
        [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(2e-3), seed: 0);
}
