// Writes the files our library produces for other tools to read — TensorBoard event files (Fit's
// logger and the profiler), safetensors (a tree of every dtype, a saved model's state) and ONNX
// graphs (float32 and a mixed-bfloat16 model) — with the values they must hold, for check.py to
// read with the reference implementations (tensorboard, safetensors, onnx, onnxruntime).
// Run: dotnet run --project build/interop -c Release -- OUT_FOLDER
using System.Text.Json;
using Functional.Datasets;
using Functional.Export;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Persistence;
using Functional.Profiling;
using Functional.Training;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

var outFolder = Path.GetFullPath(args.Length > 0 ? args[0] : "interop-files");
if (Directory.Exists(outFolder)) Directory.Delete(outFolder, recursive: true);
Directory.CreateDirectory(outFolder);
var expected = new Dictionary<string, object>();
var (images, labels) = Mnist.Load();
var (trainX, trainY, testX) = (images[..1024], labels[..1024], images[8000..8064]);

// TensorBoard: Fit with every record the logger writes, and the profiler's run metadata.
using var cnn = new Model(
    new Sequential(new Conv2D(8, 3, activation: ActivationFunction.Relu), new BatchNorm(), new MaxPool2D(),
        new Flatten(), new Dropout(0.25), new Dense(10)),
    [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(2e-3), [new SparseCategoricalAccuracy()], seed: 1);
var logDir = Path.Combine(outFolder, "tensorboard");
var history = cnn.Fit(trainX, trainY, new FitOptions
{
    Epochs = 2, BatchSize = 64, ValidationSplit = 0.25, Verbosity = Verbosity.Silent,
    Callbacks = [new TensorBoardLogger(logDir, histograms: true, batchFrequency: 4, gradientHistograms: true, sampleImages: trainX[..2]),
                 new Profiler(firstStep: 3, steps: 2, logDir: logDir)],
});
expected["history"] = history.Names.ToDictionary(name => name, name => history[name].ToArray());

// safetensors: one tensor of each dtype the format and libtorch share, with metadata.
var leaves = new (string, Tensor)[]
{
    ("f64", tensor(new[] { 1.5, -2.25, Math.PI })), ("f32", arange(6, ScalarType.Float32).reshape(2, 3) / 7),
    ("f16", tensor(new[] { 0.5f, -65504f, 1e-3f }).to_type(ScalarType.Float16)),
    ("bf16", tensor(new[] { 1f, -3.140625f, 1e30f }).to_type(ScalarType.BFloat16)),
    ("i64", tensor(new[] { long.MinValue, 0L, long.MaxValue })), ("i32", tensor(new[] { -7, 8 })),
    ("i16", tensor(new short[] { -300, 300 })), ("i8", tensor(new sbyte[] { -128, 127 })),
    ("u8", tensor(new byte[] { 0, 255 })), ("bool", tensor(new[] { true, false, true })),
    ("nested.scalar", tensor(42f)), ("empty", zeros(0, 4)),
};
SafeTensors.Save(Path.Combine(outFolder, "dtypes.safetensors"), TensorTree.FromLeaves(leaves), new Dictionary<string, string> { ["note"] = "written by Functional" });
expected["dtypes"] = leaves.ToDictionary(l => l.Item1, l => new
{
    dtype = l.Item2.dtype.ToString(), shape = l.Item2.shape,
    values = l.Item2.to_type(ScalarType.Float64).flatten().data<double>().ToArray().Select(v => v.ToString("R")).ToArray(),
});
ModelFile.Save(Path.Combine(outFolder, "saved-cnn"), cnn);

// ONNX: the trained CNN, an MLP in the bfloat16 policy, and sequence models; inputs and our
// outputs go into one safetensors file.
var mixed = new Model(new Sequential(new Dense(64, ActivationFunction.Gelu), new LayerNorm(), new Dense(10)), [784],
    Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(1e-3), seed: 2, precision: PrecisionPolicy.MixedBFloat16);
mixed.Fit(trainX.flatten(1), trainY, new FitOptions { Epochs = 1, BatchSize = 64, Verbosity = Verbosity.Silent });
using var tokens = randint(0, 50, [4, 12], ScalarType.Int64);
var lstm = new Model(new Sequential(new Embedding(50, 16), new Bidirectional(new Lstm(8, returnSequences: true)), new Gru(6), new Dense(3)), [12],
    Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(1e-3), seed: 3);
var attention = new Model(new Sequential(new Embedding(50, 16), new MultiHeadAttention(2, 8, causal: true), new LayerNorm(), new GlobalPool(), new Dense(3)), [12],
    Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(1e-3), seed: 4);
var io = new List<(string, Tensor)>();
foreach (var (name, model, input) in new[] { ("cnn", cnn, testX), ("mixed", mixed, testX.flatten(1)), ("lstm", lstm, tokens), ("attention", attention, tokens) })
{
    OnnxExport.Save(Path.Combine(outFolder, $"{name}.onnx"), model);
    io.Add(($"{name}.input", input.contiguous()));
    io.Add(($"{name}.output", model.Predict(input).contiguous()));
}
SafeTensors.Save(Path.Combine(outFolder, "onnx-io.safetensors"), TensorTree.FromLeaves(io));
File.WriteAllText(Path.Combine(outFolder, "expected.json"), JsonSerializer.Serialize(expected, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine($"interop files: {outFolder}");
