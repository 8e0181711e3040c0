// A tiny model on the built-in MNIST digits, as a new user writes it after `dotnet add package`.
using Functional.Datasets;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Training;

var (images, labels) = Mnist.Load();
var (trainX, trainY, testX, testY) = (images[..2000], labels[..2000], images[8000..], labels[8000..]);
var network = new Sequential(new Flatten(), new Dense(64, activation: ActivationFunction.Relu), new Dense(10));
using var model = new Model(network, [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true),
    Optimizer.Adam(3e-3), [new SparseCategoricalAccuracy()]);
model.Fit(trainX, trainY, new FitOptions { Epochs = 3, BatchSize = 64, Verbosity = Verbosity.Silent });
Console.WriteLine($"csharp_test_accuracy={model.Evaluate(testX, testY)["accuracy"]:F4}");
