// Train an MNIST classifier data-parallel: the same program runs as one process or as N ranks.
//   dotnet run --project examples/CSharpDistributed -- --epochs 3
//   mpirun -np 2 dotnet examples/CSharpDistributed/bin/Release/net10.0/CSharpDistributed.dll --epochs 3
// In exact mode the ranks split every global batch of 128 and end with the parameters one
// process would have, so test_accuracy is the same either way. Only rank 0 prints.
using Functional.Datasets;
using Functional.Distributed;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Training;

int Argument(string name, int fallback) => Array.IndexOf(args, name) is var i and >= 0 ? int.Parse(args[i + 1]) : fallback;
int epochs = Argument("--epochs", 3), trainCount = Argument("--train", 8000);
var (images, labels) = Mnist.Load();
var (trainX, trainY, testX, testY) = (images[..trainCount], labels[..trainCount], images[8000..], labels[8000..]);

var network = new Sequential(new Flatten(), new Dense(256, activation: ActivationFunction.Relu), new BatchNorm(),
    new Dropout(0.2), new Dense(10));
using var model = new Model(network, [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true),
    Optimizer.Adam(1e-3), [new SparseCategoricalAccuracy()]);
var ranks = Communicator.World;
var history = model.Fit(trainX, trainY, new FitOptions
{
    Epochs = epochs, BatchSize = 128, Verbosity = Verbosity.Lines, Distribution = DataParallel.Exact(),
});
double accuracy = model.Evaluate(testX, testY)["accuracy"];
if (ranks.IsRoot)
{
    Console.WriteLine($"ranks={ranks.Size}");
    Console.WriteLine($"communication_share={history.StepTimes[^1].CommunicationShare:F3}");
    Console.WriteLine($"test_accuracy={accuracy:F4}");
}
