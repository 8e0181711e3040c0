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
/// same CNN with in-memory data, batch 128: Fit without a profiler against Fit with one
/// recording every step (9 rounds of 20 steps, the order alternating), and against Fit with one
/// that records none (25 pairs of 10 steps, the order alternating: the difference is small, so
/// it takes many short pairs to see it through a noisy machine), after a warm-up. Each Fit is
/// timed by the wall clock (the profiler's own work between steps included); the overheads are
/// medians of the per-round ratios to the plain Fit.
/// </summary>
static class ProfileBench
{
    const int Batch = 128, Steps = 20, Rounds = 9, OffPairs = 25, OffSteps = 10;

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
        var (xShort, yShort) = (x[..(Batch * OffSteps)], y[..(Batch * OffSteps)]);
        double Time(Model model, Profiler? profiler, bool shortRun = false) => Measure.Seconds(() => model.Fit(
            shortRun ? xShort : x, shortRun ? yShort : y, new FitOptions
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
            // The order alternates, so drift favours neither.
            double p, r;
            if (round % 2 == 0) (p, r) = (Time(plain, null), Time(profiled, Everything()));
            else (r, p) = (Time(profiled, Everything()), Time(plain, null));
            Console.Error.WriteLine($"round {round}: plain {1000 * p / Steps:F1} ms/step, profiled {1000 * r / Steps:F1}");
            withProfile.Add(r / p);
        }
        for (int pair = 0; pair < OffPairs; pair++)
        {
            double p, o;
            if (pair % 2 == 0) (p, o) = (Time(plain, null, shortRun: true), Time(off, Nothing(), shortRun: true));
            else (o, p) = (Time(off, Nothing(), shortRun: true), Time(plain, null, shortRun: true));
            Console.Error.WriteLine($"pair {pair}: plain {1000 * p / OffSteps:F1} ms/step, profiler off {1000 * o / OffSteps:F1}");
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
