using System.Diagnostics;
using Functional.Datasets;
using Functional.Distributed;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Bench;

/// <summary>
/// Data parallelism on 2 local ranks under mpirun: (1) all-reduce time through
/// Communicator.AllReduceInPlace against a C program calling MPI_Allreduce on the same float32
/// buffers (bench/allreduce.c, built by bench/run with mpicc), job after job alternating, medians
/// of the rounds; (2) exact mode after 100 steps against one process at the global batch, with
/// SGD and with Adam;
/// (3) the communication share of a Fit step for the README's MLP and CNN, and from the measured
/// compute time and gradient size a projection of the efficiency at 8, 64 and 256 ranks on 25
/// and 100 Gb/s networks; (4) the all-reduce comparison again beside a busy process.
/// </summary>
static class Distributed
{
    static readonly long[] Sizes = [1_000, 10_000, 100_000, 1_000_000, 10_000_000];
    const int Rounds = 7, Steps = 100, Batch = 128;
    /// <summary>Per-message latency assumed for a data-centre network (TCP over Ethernet).</summary>
    const double LatencySeconds = 10e-6;

    /// <summary>What every job runs with: as root on a 2-core machine, and OpenMPI's ring
    /// all-reduce for large messages (docs/distributed.md), for the C program and us alike.</summary>
    static readonly Dictionary<string, string> MpiEnvironment = new()
    {
        ["OMPI_ALLOW_RUN_AS_ROOT"] = "1",
        ["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1",
        ["OMPI_MCA_rmaps_base_oversubscribe"] = "1",
        ["OMPI_MCA_coll_tuned_use_dynamic_rules"] = "1",
        ["OMPI_MCA_coll_tuned_allreduce_algorithm"] = "4",
        ["TERM"] = "dumb",
    };

    /// <summary>Every part; <c>distributed allreduce</c> only the all-reduce comparisons.</summary>
    public static void Run(string[] args)
    {
        string reference = Environment.GetEnvironmentVariable("FUNCTIONAL_MPI_REFERENCE")
            ?? throw new InvalidOperationException("Run this through bench/run distributed, which builds the C reference with mpicc.");
        var rows = new List<string>();
        rows.AddRange(AllReduceComparison(reference, 1, ""));
        if (!args.Contains("allreduce"))
        {
            rows.AddRange(ExactAfterSteps());
            foreach (var model in new[] { "mlp", "cnn" }) rows.AddRange(ShareAndProjection(model));
            foreach (var model in new[] { "mlp", "cnn" }) rows.AddRange(OverlapComparison(model));
        }
        // Beside a busy process each call's time depends on the scheduler: 5x the calls.
        using (CpuLoad.Start(1)) rows.AddRange(AllReduceComparison(reference, 5, "_loaded"));
        rows.ForEach(Console.WriteLine);
    }

    /// <summary>Seconds per all-reduce of each size, ours against C, alternating jobs; the ratio
    /// of bandwidths (C's time / ours) per size, and the lowest where bandwidth decides (from
    /// 100,000 values, 400 KB: Fit's fused gradients are larger). Below that a call takes 1-15 µs
    /// and the ratio is one of latencies: ours adds about 0.2 µs of checks per call.</summary>
    static IEnumerable<string> AllReduceComparison(string reference, int scale, string suffix)
    {
        string[] sizes = [.. Sizes.Select(s => s.ToString())];
        var ours = Sizes.ToDictionary(s => s, _ => new List<double>());
        var theirs = Sizes.ToDictionary(s => s, _ => new List<double>());
        for (int round = 0; round < Rounds; round++)
        {
            var c = Mpirun([reference, scale.ToString(), .. sizes]);
            var dotnet = Mpirun(["dotnet", typeof(Distributed).Assembly.Location, "distributed-rank", "allreduce", scale.ToString(), .. sizes]);
            foreach (var size in Sizes)
            {
                theirs[size].Add(c[$"seconds_{size}"]);
                ours[size].Add(dotnet[$"seconds_{size}"]);
            }
        }
        var ratios = new List<double>();
        foreach (var size in Sizes)
        {
            double mine = Measure.Median(ours[size]), c = Measure.Median(theirs[size]), ratio = c / mine;
            ratios.Add(ratio);
            Console.WriteLine($"all-reduce{suffix.Replace('_', ' ')} of {size:N0} float32: ours {mine * 1e3:F3} ms, C {c * 1e3:F3} ms ({4 * size / mine / 1e9:F2} vs {4 * size / c / 1e9:F2} GB/s)");
            yield return $"allreduce_vs_mpi_{size}{suffix}={ratio:F3}";
        }
        yield return $"allreduce_vs_mpi{suffix}={Sizes.Zip(ratios).Where(p => p.First >= 100_000).Min(p => p.Second):F3}";
        yield return $"allreduce_latency_vs_mpi{suffix}={Sizes.Zip(ratios).Where(p => p.First < 100_000).Min(p => p.Second):F3}";
    }

    /// <summary>The README MLP trained 100 steps in exact mode on 2 ranks (global batch 128) and in
    /// one process: the largest parameter difference, and whether the ranks agree bit for bit.
    /// With SGD the difference is float32 rounding (the ranks sum two 64-row products where one
    /// process computes one 128-row product); Adam divides each gradient by its running size,
    /// which enlarges those roundings for the parameters whose gradients nearly cancel.</summary>
    static IEnumerable<string> ExactAfterSteps()
    {
        foreach (var optimizer in new[] { "sgd", "adam" })
        {
            var folder = Directory.CreateTempSubdirectory("functional-ddp-").FullName;
            try
            {
                Mpirun(["dotnet", typeof(Distributed).Assembly.Location, "distributed-rank", "exact", optimizer, folder]);
                var rank0 = File.ReadAllBytes(Path.Combine(folder, "rank0.bin"));
                var rank1 = File.ReadAllBytes(Path.Combine(folder, "rank1.bin"));
                torch.set_num_threads(1);   // as each of the 2 ranks has
                using var single = Mlp(1, optimizer);
                var (x, y) = Digits(Steps / 2 * Batch, "mlp");
                single.Fit(x, y, new FitOptions { Epochs = 2, BatchSize = Batch, Verbosity = Verbosity.Silent });
                var expected = Bytes(single);
                double difference = 0;
                var a = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(rank0);
                var b = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(expected);
                for (int i = 0; i < a.Length; i++) difference = Math.Max(difference, Math.Abs(a[i] - b[i]));
                Console.WriteLine($"exact mode, {optimizer}, {Steps} steps of {Batch} on 2 ranks vs 1 process: max |difference| {difference:E2}");
                string suffix = optimizer == "sgd" ? "" : "_adam";
                yield return $"ddp_vs_single_max_abs_diff{suffix}={difference:E2}";
                yield return $"ranks_bit_identical{suffix}={(rank0.AsSpan().SequenceEqual(rank1) ? 1 : 0)}";
            }
            finally
            {
                Directory.Delete(folder, true);
            }
        }
    }

    /// <summary>The communication share of Fit's step on 2 ranks (scalable mode, 64 rows each),
    /// and the efficiency projected from its compute time and gradient size.</summary>
    static IEnumerable<string> ShareAndProjection(string model)
    {
        var shares = new List<double>();
        Dictionary<string, double> last = [];
        for (int round = 0; round < 3; round++)
        {
            last = Mpirun(["dotnet", typeof(Distributed).Assembly.Location, "distributed-rank", "share", model]);
            shares.Add(last["communication_share"]);
        }
        double compute = last["compute_seconds_per_step"], bytes = 4 * last["parameters"];
        Console.WriteLine($"{model}: communication {Measure.Median(shares):P1} of a step on 2 ranks; compute {compute * 1e3:F2} ms/step at 64 rows, {bytes / 1e6:F2} MB of gradients");
        yield return $"comm_share_{model}={Measure.Median(shares):F3}";
        foreach (int ranks in new[] { 8, 64, 256 })
            foreach (int gigabits in new[] { 25, 100 })
            {
                // Rabenseifner's all-reduce (reduce-scatter, then all-gather): 2 log2(N) messages
                // of latency, 2 (N - 1) / N of the gradients over each link; no overlap with compute.
                double communication = 2 * Math.Log2(ranks) * LatencySeconds + 2.0 * (ranks - 1) / ranks * bytes * 8 / (gigabits * 1e9);
                double efficiency = compute / (compute + communication);
                string prefix = model == "mlp" ? "" : "cnn_";
                yield return $"{prefix}projected_eff_{ranks}_{gigabits}g={efficiency:F3}";
            }
    }

    /// <summary>Fit's step time on 2 ranks with the all-reduce started during the backward pass
    /// and after it, epoch against epoch in one job (5 rounds, medians).</summary>
    static IEnumerable<string> OverlapComparison(string model)
    {
        var times = Mpirun(["dotnet", typeof(Distributed).Assembly.Location, "distributed-rank", "overlap", model]);
        double plain = times["seconds_per_step_plain"], overlapped = times["seconds_per_step_overlapped"];
        Console.WriteLine($"{model}: {plain * 1e3:F2} ms/step with the all-reduce after the backward pass, {overlapped * 1e3:F2} ms/step overlapped with it");
        yield return $"overlap_speedup_{model}={plain / overlapped:F3}";
    }

    /// <summary>One rank's part, under mpirun.</summary>
    public static void RunRank(string[] args)
    {
        var ranks = Communicator.World;
        switch (args[0])
        {
            case "allreduce":
                {
                    int scale = int.Parse(args[1]);
                    long[] sizes = [.. args.Skip(2).Select(long.Parse)];
                    // A pass over every size first: the JIT's background compilation, which shares
                    // the rank's core, is over before anything is timed.
                    foreach (var timed in new[] { false, true })
                        foreach (var size in sizes)
                        {
                            using var buffer = torch.zeros(size);
                            int repeats = scale * (int)Math.Clamp(200_000_000 / size, 5, 20_000);   // bench/allreduce.c's rule
                            ranks.Barrier();
                            var clock = Stopwatch.StartNew();
                            for (int r = 0; r < repeats; r++) ranks.AllReduceInPlace(buffer);
                            if (timed && ranks.IsRoot) Console.WriteLine($"seconds_{size}={clock.Elapsed.TotalSeconds / repeats:G9}");
                        }
                    break;
                }
            case "exact":
                {
                    using var model = Mlp(1, args[1]);
                    var (x, y) = Digits(Steps / 2 * Batch, "mlp");   // 2 epochs of 50 steps (the sample has 10,000 digits)
                    model.Fit(x, y, new FitOptions { Epochs = 2, BatchSize = Batch, Verbosity = Verbosity.Silent, Distribution = DataParallel.Exact() });
                    File.WriteAllBytes(Path.Combine(args[2], $"rank{ranks.Rank}.bin"), Bytes(model));
                    break;
                }
            case "share":
                {
                    using var model = args[1] == "cnn" ? Cnn(1) : Mlp(1);
                    var (x, y) = Digits(8000, args[1]);
                    using var mine = torch.tensor(ranks.Shard(Enumerable.Range(0, 8000).Select(i => (long)i)).ToArray());
                    var history = model.Fit(x.index_select(0, mine), y.index_select(0, mine),
                        new FitOptions { Epochs = 2, BatchSize = Batch / 2, Verbosity = Verbosity.Silent, Distribution = DataParallel.Scalable() });
                    var times = history.StepTimes[^1];
                    if (ranks.IsRoot)
                    {
                        Console.WriteLine($"communication_share={times.CommunicationShare:G6}");
                        Console.WriteLine($"compute_seconds_per_step={(times.Forward + times.Backward + times.Optimizer).TotalSeconds / times.Steps:G6}");
                        Console.WriteLine($"parameters={model.State.Params.Leaves.Sum(t => t.numel())}");
                    }
                    break;
                }
            case "overlap":
                {
                    using var model = args[1] == "cnn" ? Cnn(1) : Mlp(1);
                    var (x, y) = Digits(4000, args[1]);
                    using var mine = torch.tensor(ranks.Shard(Enumerable.Range(0, 4000).Select(i => (long)i)).ToArray());
                    var (myX, myY) = (x.index_select(0, mine), y.index_select(0, mine));
                    var plain = DataParallel.Scalable();
                    var overlapped = plain with { OverlapCommunication = true };
                    double Epoch(DataParallel distribution)
                    {
                        var times = model.Fit(myX, myY, new FitOptions { BatchSize = Batch / 2, Verbosity = Verbosity.Silent, Distribution = distribution }).StepTimes[0];
                        return times.Total.TotalSeconds / times.Steps;
                    }
                    Epoch(plain);
                    Epoch(overlapped);
                    var (plainTimes, overlappedTimes) = (new List<double>(), new List<double>());
                    for (int round = 0; round < 5; round++)
                    {
                        plainTimes.Add(Epoch(plain));
                        overlappedTimes.Add(Epoch(overlapped));
                    }
                    if (ranks.IsRoot)
                    {
                        Console.WriteLine($"seconds_per_step_plain={Measure.Median(plainTimes):G6}");
                        Console.WriteLine($"seconds_per_step_overlapped={Measure.Median(overlappedTimes):G6}");
                    }
                    break;
                }
            default:
                throw new ArgumentException($"no rank part '{args[0]}'");
        }
    }

    static Model Mlp(ulong seed, string optimizer = "adam") => new(MixedPrecision.Network(cnn: false), [784], Loss.SparseCategoricalCrossEntropy(fromLogits: true),
        optimizer == "sgd" ? Optimizer.Sgd(0.01) : Optimizer.Adam(1e-3), [new SparseCategoricalAccuracy()], seed);

    static Model Cnn(ulong seed) => new(MixedPrecision.Network(cnn: true), [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true),
        Optimizer.Adam(1e-3), [new SparseCategoricalAccuracy()], seed);

    /// <summary>The first <paramref name="count"/> MNIST digits, flattened for the MLP.</summary>
    static (Tensor X, Tensor Y) Digits(int count, string model)
    {
        var (images, labels) = Mnist.Load();
        var x = images[..count];
        return (model == "mlp" ? x.reshape(count, 784) : x, labels[..count]);
    }

    static byte[] Bytes(Model model) =>
        [.. model.State.Params.Leaves.SelectMany(t => t.contiguous().bytes.ToArray())];

    /// <summary>Runs <paramref name="command"/> on 2 ranks; the key=value lines rank 0 printed.</summary>
    static Dictionary<string, double> Mpirun(string[] command)
    {
        var info = new ProcessStartInfo("mpirun", ["-np", "2", .. command]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in MpiEnvironment) info.Environment[key] = value;
        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"mpirun {string.Join(' ', command)} failed:\n{output}\n{error.Result}");
        return ChildProcess.KeyValues(output);
    }
}
