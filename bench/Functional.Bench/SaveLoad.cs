using Functional.Layers;
using Functional.Losses;
using Functional.Optimizers;
using Functional.Persistence;
using Functional.Training;
using TorchSharp;

namespace Functional.Bench;

/// <summary>
/// Save and load time and file size of whole models (description, parameters, optimizer
/// state) for the MNIST CNN and a 10M-parameter MLP. The anchor is the I/O floor: the same
/// bytes written to and read from one file with File.WriteAllBytes / ReadAllBytes, same run.
/// </summary>
static class SaveLoad
{
    public static void Run()
    {
        var models = new (string Name, ILayer Network, long[] Shape)[]
        {
            ("cnn", new Sequential(
                new Conv2D(32, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
                new Conv2D(64, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
                new Flatten(), new Dense(128, activation: ActivationFunction.Relu), new Dense(10)), [1, 28, 28]),
            ("mlp10m", new Sequential(
                new Dense(2048, ActivationFunction.Relu), new Dense(2048, ActivationFunction.Relu),
                new Dense(2048, ActivationFunction.Relu), new Dense(10)), [784]),
        };
        var folder = Path.Combine(Path.GetTempPath(), $"functional-bench-{Guid.NewGuid():N}");
        try
        {
            foreach (var (name, network, shape) in models)
            {
                using var model = new Model(network, shape, Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(1e-3));
                var target = Path.Combine(folder, name);
                ModelFile.Save(target, model);
                ModelFile.Load(target).State.Params.Dispose();
                double save = Measure.Median(Enumerable.Range(0, 5).Select(_ => Measure.Seconds(() => ModelFile.Save(target, model))));
                double load = Measure.Median(Enumerable.Range(0, 5).Select(_ => Measure.Seconds(() =>
                {
                    using var scope = torch.NewDisposeScope();
                    ModelFile.Load(target);
                })));
                long bytes = Directory.GetFiles(target).Sum(f => new FileInfo(f).Length);
                var raw = Path.Combine(folder, name + ".raw");
                var data = new byte[bytes];
                double rawSave = Measure.Median(Enumerable.Range(0, 5).Select(_ => Measure.Seconds(() => File.WriteAllBytes(raw, data))));
                double rawLoad = Measure.Median(Enumerable.Range(0, 5).Select(_ => Measure.Seconds(() => File.ReadAllBytes(raw))));
                long parameters = model.State.Params.ScalarCount;
                Console.WriteLine($"{name}: {parameters:N0} parameters, {bytes / 1e6:F1} MB with optimizer state; save {save * 1e3:F1} ms, load {load * 1e3:F1} ms " +
                                  $"(raw write {rawSave * 1e3:F1} ms, read {rawLoad * 1e3:F1} ms)");
                Console.WriteLine($"{name}_parameters={parameters}");
                Console.WriteLine($"{name}_save_ms={save * 1e3:F1}");
                Console.WriteLine($"{name}_load_ms={load * 1e3:F1}");
                Console.WriteLine($"{name}_file_mb={bytes / 1e6:F1}");
                Console.WriteLine($"{name}_save_vs_raw_write={rawSave / save:F2}");
                Console.WriteLine($"{name}_load_vs_raw_read={rawLoad / load:F2}");
            }
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }
}
