// Training from a stream in C#: the MNIST digits written once to a Parquet file, read back
// through shuffle -> batches -> tensors -> prefetch while the CNN trains.
// Run: dotnet run --project examples/CSharpStreams -- --epochs 5 --train 8000
using System.Diagnostics;
using Functional.Datasets;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Streams;
using Functional.Streams.Columns;
using Functional.Streams.Sources;
using Functional.Streams.Tables;
using Functional.Streams.Training;
using Functional.Training;
using TorchSharp;

int Argument(string name, int fallback) => Array.IndexOf(args, name) is var i and >= 0 ? int.Parse(args[i + 1]) : fallback;
int epochs = Argument("--epochs", 5), trainCount = Argument("--train", 8000);

var (images, labels) = Mnist.Load();
var parquet = Path.Combine(Path.GetTempPath(), $"mnist-train-cs-{trainCount}.parquet");
var pixels = (images[..trainCount] * 255).round().to(torch.uint8).reshape(-1, 784);
ParquetFile.Write(parquet, TensorColumns.ToRecordBatches(new Dictionary<string, torch.Tensor> { ["image"] = pixels, ["label"] = labels[..trainCount] }, 1000));

var train = DataStream.Parquet(parquet)       // one element per row
    .Shuffle(10_000, seed: 42)
    .Batch(128)
    .ToTensors("image", "label", inputShape: [1, 28, 28], prepareInputs: raw => raw.to(torch.float32) / 255)
    .Prefetch(4);

var network = new Sequential(
    new Conv2D(32, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
    new Conv2D(64, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
    new Flatten(), new Dense(128, activation: ActivationFunction.Relu), new Dense(10));
using var model = new Model(network, [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true),
    Optimizer.Adam(2e-3), [new SparseCategoricalAccuracy()], seed: 0);

var clock = Stopwatch.StartNew();
var history = model.Fit(train.ToBatchSource(trainCount), new FitOptions { Epochs = epochs, ShowStepTimes = true });
double seconds = clock.Elapsed.TotalSeconds;
var test = model.Evaluate(images[8000..], labels[8000..]);
foreach (var stage in train.Stages) Console.WriteLine(stage.Snapshot());
// Input wait over every epoch but the first (warm-up).
var measured = history.StepTimes.Skip(epochs > 1 ? 1 : 0).ToList();
double inputWait = measured.Sum(t => t.InputWait.TotalSeconds) / measured.Sum(t => t.Total.TotalSeconds);
File.Delete(parquet);

Console.WriteLine($"test_accuracy={test["accuracy"]:F4}");
Console.WriteLine($"input_wait_share={inputWait:F4}");
Console.WriteLine($"train_seconds={seconds:F1}");
