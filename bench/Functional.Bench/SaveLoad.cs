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
/// number of bytes written to one file and flushed to disk, and read back, in alternating
/// rounds of the same run; the checksum's own cost (XxHash128 over those bytes) is reported too.
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
                long bytes = Directory.GetFiles(target).Where(f => !Path.GetFileName(f).StartsWith('.')).Sum(f => new FileInfo(f).Length);
                var raw = Path.Combine(folder, name + ".raw");
                var data = new byte[bytes];
                Random.Shared.NextBytes(data);
                // Alternating rounds: the save, the raw write (flushed to disk, as the save is),
                // the load, the raw read, and the checksum alone (XxHash128 over the same bytes).
                var (saves, rawSaves, loads, rawLoads, hashes) = (new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>());
                for (int round = 0; round < 7; round++)
                {
                    saves.Add(Measure.Seconds(() => ModelFile.Save(target, model)));
                    rawSaves.Add(Measure.Seconds(() =>
                    {
                        using var file = new FileStream(raw, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
                        file.Write(data);
                        file.Flush(flushToDisk: true);
                    }));
                    loads.Add(Measure.Seconds(() =>
                    {
                        using var scope = torch.NewDisposeScope();
                        ModelFile.Load(target);
                    }));
                    rawLoads.Add(Measure.Seconds(() => File.ReadAllBytes(raw)));
                    hashes.Add(Measure.Seconds(() => System.IO.Hashing.XxHash128.Hash(data)));
                }
                double save = Measure.Median(saves), rawSave = Measure.Median(rawSaves), load = Measure.Median(loads),
                    rawLoad = Measure.Median(rawLoads), checksum = Measure.Median(hashes);
                long parameters = model.State.Params.ScalarCount;
                Console.WriteLine($"{name}: {parameters:N0} parameters, {bytes / 1e6:F1} MB with optimizer state; save {save * 1e3:F1} ms, load {load * 1e3:F1} ms " +
                                  $"(raw write {rawSave * 1e3:F1} ms, read {rawLoad * 1e3:F1} ms)");
                Console.WriteLine($"{name}_parameters={parameters}");
                Console.WriteLine($"{name}_save_ms={save * 1e3:F1}");
                Console.WriteLine($"{name}_load_ms={load * 1e3:F1}");
                Console.WriteLine($"{name}_file_mb={bytes / 1e6:F1}");
                Console.WriteLine($"{name}_checksum_ms={checksum * 1e3:F1}");
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
