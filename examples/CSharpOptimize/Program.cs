// Train the README's MNIST CNN, prune 80% of its weights while fine-tuning, quantize it to int8
// (calibrated on 512 training digits), export the int8 model to ONNX and classify the test digits
// with ONNX Runtime alone. Run: dotnet run --project examples/CSharpOptimize -- --epochs 3
using Functional.Datasets;
using Functional.Export;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.ModelOptimization;
using Functional.Optimizers;
using Functional.Persistence;
using Functional.Training;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;

int Argument(string name, int fallback) => Array.IndexOf(args, name) is var i and >= 0 ? int.Parse(args[i + 1]) : fallback;
int epochs = Argument("--epochs", 3), trainCount = Argument("--train", 8000);
var (images, labels) = Mnist.Load();
var (trainX, trainY, testX, testY) = (images[..trainCount], labels[..trainCount], images[8000..], labels[8000..]);

var network = new Sequential(
    new Conv2D(32, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
    new Conv2D(64, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
    new Flatten(), new Dense(128, activation: ActivationFunction.Relu), new Dense(10));
using var model = new Model(network, [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true),
    Optimizer.Adam(1e-3), [new SparseCategoricalAccuracy()]);
var options = new FitOptions { Epochs = epochs, BatchSize = 128, Verbosity = Verbosity.Silent };
model.Fit(trainX, trainY, options);
double denseAccuracy = model.Evaluate(testX, testY)["accuracy"];

// Prune: 0 to 80% of every kernel's weights over two thirds of one fine-tuning epoch, then fold the masks in.
long steps = (trainCount + 127) / 128;
using var pruning = Pruning.Prune(model, PruningSchedule.Polynomial(0, 0.8, beginStep: 0, endStep: steps * 2 / 3, frequency: 10));
pruning.Fit(trainX, trainY, options with { Epochs = 1 });
using var pruned = Pruning.Strip(pruning);
Console.Write(Pruning.Report(pruned));
double prunedAccuracy = pruned.Evaluate(testX, testY)["accuracy"];

// Quantize: int8 weights per channel, uint8 activations calibrated on 512 training digits.
using var int8 = Quantization.Static(pruned, trainX[..512]);
var folder = Path.Combine(Path.GetTempPath(), $"functional-optimize-{Environment.ProcessId}");
ModelFile.Save(Path.Combine(folder, "float"), pruned, includeOptimizerState: false);
ModelFile.Save(Path.Combine(folder, "int8"), int8, includeOptimizerState: false);
long Bytes(string saved) => Directory.GetFiles(Path.Combine(folder, saved)).Sum(f => new FileInfo(f).Length);
var onnxPath = Path.Combine(folder, "mnist-int8.onnx");
OnnxExport.Save(onnxPath, int8);

// ONNX Runtime alone from here on: it runs the QuantizeLinear/DequantizeLinear graph as integer kernels.
using var session = new InferenceSession(onnxPath);
var pixels = testX.contiguous().data<float>().ToArray();
var input = NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(pixels, [2000, 1, 28, 28]));
using var results = session.Run([input]);
var logits = torch.tensor(results.First().AsTensor<float>().ToArray()).reshape(2000, 10);
double int8Accuracy = logits.argmax(1).eq(testY).to_type(torch.ScalarType.Float64).mean().item<double>();

Console.WriteLine($"dense_test_accuracy={denseAccuracy:F4}");
Console.WriteLine($"prune_sparsity={Pruning.Report(pruned).Sparsity:F3}");
Console.WriteLine($"prune_accuracy_delta={100 * (prunedAccuracy - denseAccuracy):F2}");
Console.WriteLine($"int8_test_accuracy={int8Accuracy:F4}");
Console.WriteLine($"int8_accuracy_delta={100 * (int8Accuracy - prunedAccuracy):F2}");
Console.WriteLine($"int8_file_ratio={Bytes("int8") / (double)Bytes("float"):F3}");
Directory.Delete(folder, true);
