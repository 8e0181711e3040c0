// The quickstart in C#: a small CNN on the MNIST digits shipped in data/mnist (8,000 to train,
// 2,000 to test). Run: dotnet run --project examples/CSharpMnist -- --epochs 10 --train 8000
using System.Diagnostics;
using Functional.Datasets;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Training;

int Argument(string name, int fallback) => Array.IndexOf(args, name) is var i and >= 0 ? int.Parse(args[i + 1]) : fallback;
int epochs = Argument("--epochs", 10), trainCount = Argument("--train", 8000);

var (images, labels) = Mnist.Load();
var (trainX, trainY) = (images[..trainCount], labels[..trainCount]);
var (testX, testY) = (images[8000..], labels[8000..]);

var network = new Sequential(
    new Conv2D(32, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
    new Conv2D(64, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
    new Flatten(), new Dropout(0.25),
    new Dense(128, activation: ActivationFunction.Relu),
    new Dense(10));

using var model = new Model(network, [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true),
    Optimizer.Adam(2e-3), [new SparseCategoricalAccuracy()], seed: 0);
Console.WriteLine(model.Summary());

var clock = Stopwatch.StartNew();
model.Fit(trainX, trainY, new FitOptions { Epochs = epochs, BatchSize = 128, ValidationData = new(testX, testY) });
var seconds = clock.Elapsed.TotalSeconds;
var test = model.Evaluate(testX, testY);

Console.WriteLine($"test_accuracy={test["accuracy"]:F4}");
Console.WriteLine($"train_seconds={seconds:F1}");
