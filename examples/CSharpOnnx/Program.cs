// Train on MNIST, save the model, export it to ONNX, then classify the test digits with ONNX
// Runtime alone. Run: dotnet run --project examples/CSharpOnnx -- --epochs 3
using Functional.Datasets;
using Functional.Export;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Persistence;
using Functional.Training;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;

int epochs = Array.IndexOf(args, "--epochs") is var i and >= 0 ? int.Parse(args[i + 1]) : 3;
var (images, labels) = Mnist.Load();
var (trainX, trainY, testX, testY) = (images[..8000], labels[..8000], images[8000..], labels[8000..]);

var network = new Sequential(
    new Conv2D(16, 3, activation: ActivationFunction.Relu), new BatchNorm(), new MaxPool2D(),
    new Conv2D(32, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
    new Flatten(), new Dropout(0.25), new Dense(64, ActivationFunction.Relu), new Dense(10));
using var model = new Model(network, [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true),
    Optimizer.Adam(2e-3), [new SparseCategoricalAccuracy()]);
model.Fit(trainX, trainY, new FitOptions { Epochs = epochs, BatchSize = 128 });

// Save (description + weights), reload without the code above, export the reloaded model.
var folder = Path.Combine(Path.GetTempPath(), "functional-mnist-model");
ModelFile.Save(folder, model);
using var loaded = ModelFile.LoadModel(folder);
var onnxPath = Path.Combine(folder, "mnist.onnx");
OnnxExport.Save(onnxPath, loaded);

// ONNX Runtime alone from here on.
using var session = new InferenceSession(onnxPath);
var pixels = testX.contiguous().data<float>().ToArray();
var input = NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(pixels, [2000, 1, 28, 28]));
using var results = session.Run([input]);
var logits = results.First().AsTensor<float>().ToArray();

var ours = model.Predict(testX);
var theirs = torch.tensor(logits).reshape(2000, 10);
double maxDiff = (ours - theirs).abs().max().item<float>();
double accuracy = theirs.argmax(1).eq(testY).to_type(torch.ScalarType.Float32).mean().item<float>();
Console.WriteLine($"onnx_max_abs_diff={maxDiff:G3}");
Console.WriteLine($"onnx_test_accuracy={accuracy:F4}");
