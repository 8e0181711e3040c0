// Profiling training that waits for its data, and fixing it. The MNIST CNN is fed by a stream
// whose read stage is deliberately slow (it waits 60 ms per batch, like a read from a busy
// network share); a Profiler records ten steps and its verdict says the run is input-bound and
// which stage to blame. The fixed stream runs that stage on several workers and prefetches, and
// the second profile shows the wait gone. Each run leaves profile/trace.json (open it in
// Perfetto or chrome://tracing), profile/report.txt and TensorBoard run metadata under --logdir.
// Run: dotnet run --project examples/CSharpProfile -- --train 8000
using Functional.Datasets;
using Functional.Layers;
using Functional.Losses;
using Functional.Optimizers;
using Functional.Profiling;
using Functional.Streams;
using Functional.Streams.Training;
using Functional.Training;
using TorchSharp;
using static TorchSharp.torch;

string Option(string name, string fallback) => Array.IndexOf(args, name) is var i and >= 0 ? args[i + 1] : fallback;
int trainCount = int.Parse(Option("--train", "8000")), delayMs = int.Parse(Option("--delay-ms", "60"));
string logDir = Option("--logdir", Path.Combine(Path.GetTempPath(), "functional-profile"));
const int batchSize = 128;

var (images, labels) = Mnist.Load();
var stored = (images[..trainCount] * 255).round().to(uint8);   // what the files hold: bytes
var storedLabels = labels[..trainCount];

// Batches of stored bytes, as a reader of files would give them.
DataStream<(Tensor Pixels, Tensor Labels)> Stored() => DataStream.FromGenerator(() =>
    Enumerable.Range(0, (trainCount + batchSize - 1) / batchSize).Select(b =>
    {
        long start = b * batchSize, rows = Math.Min(batchSize, trainCount - start);
        return (stored.narrow(0, start, rows).clone(), storedLabels.narrow(0, start, rows).clone());
    }), name: "files");

// The slow stage: it waits on storage, then turns bytes into the pixels the model takes.
(Tensor Inputs, Tensor Targets) Read((Tensor Pixels, Tensor Labels) raw)
{
    Thread.Sleep(delayMs);
    using (raw.Pixels) return (raw.Pixels.to(float32) / 255, raw.Labels);
}

ReportOf(Stored().Map(Read, name: "read"), "before");
// The fix the verdict suggests. The read waits on storage, not on a core, so more workers than
// cores help (Parallelism.Auto stops at one per core: right for decoding, short for waiting).
// Unordered: each worker is a thread of its own (an ordered map's run on the thread pool, which
// adds threads slowly when they block), and batches arrive as they are read.
ReportOf(Stored().Map(Read, parallelism: 8, ordered: false, name: "read").Prefetch(8), "after");

ProfileReport ReportOf(DataStream<(Tensor Inputs, Tensor Targets)> train, string run)
{
    var network = new Sequential(
        new Conv2D(32, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
        new Conv2D(64, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
        new Flatten(), new Dense(128, activation: ActivationFunction.Relu), new Dense(10));
    using var model = new Model(network, [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(2e-3), seed: 0);
    var profiler = new Profiler(firstStep: 5, steps: 10, logDir: Path.Combine(logDir, run));
    model.Fit(train.ToBatchSource(trainCount), new FitOptions { Epochs = 1, Callbacks = [profiler], Verbosity = Verbosity.Silent });
    var report = profiler.Report();
    Console.WriteLine($"--- {run}: {Path.Combine(logDir, run)}");
    Console.Write(report);
    Console.WriteLine($"input_wait_share_{run}={report.InputWaitShare:F4}");
    Console.WriteLine($"bottleneck_{run}={report.Bottleneck}");
    Console.WriteLine($"step_ms_{run}={report.MeanStep.TotalMilliseconds:F1}");
    return report;
}
