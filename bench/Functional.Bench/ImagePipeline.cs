using Functional.Datasets;
using Functional.Images;
using Functional.Layers;
using Functional.Losses;
using Functional.Optimizers;
using Functional.Streams;
using Functional.Streams.Tables;
using Functional.Streams.Training;
using Functional.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using TorchSharp;

namespace Functional.Bench;

/// <summary>
/// The image pipeline of tf.data's guide: files -&gt; parallel decode -&gt; augment -&gt; batch
/// -&gt; prefetch. Throughput with <see cref="Parallelism.Auto"/> against the same pipeline on
/// one worker (alternating rounds, medians; once more beside a busy process), on 2,000 JPEGs of
/// 112 x 112 (MNIST digits, enlarged and tinted) decoded to 64 x 64 RGB. Then the share of
/// training time the MNIST-sized CNN waits for input when it trains from 10,000 PNG digits
/// decoded by the pipeline and augmented a batch at a time.
/// </summary>
static class ImagePipeline
{
    const int Rounds = 5;

    public static void Run()
    {
        var root = Path.Combine(Path.GetTempPath(), $"functional-image-bench-{Guid.NewGuid():N}");
        try
        {
            var (images, labels) = Mnist.Load();
            using (images)
            using (labels)
            {
                WriteImages(Path.Combine(root, "photos"), images, labels, count: 2000, size: 112, jpeg: true);
                WriteImages(Path.Combine(root, "digits"), images, labels, count: 10_000, size: 28, jpeg: false);
            }
            var augmentation = new ImageAugmentation { FlipHorizontal = true, Rotation = 0.05, Zoom = 0.1, Contrast = 0.2 };
            double ImagesPerSecond(int parallelism)
            {
                long count = 0;
                double seconds = Measure.Seconds(() =>
                {
                    var pipeline = DataStream.ImageFiles(Path.Combine(root, "photos")).DecodeImages(64, 64, 3, parallelism)
                        .Augment(augmentation, seed: 1, parallelism).Batch(64).Stack().Prefetch(2);
                    foreach (var (x, y) in pipeline.Enumerate())
                    {
                        count += x.shape[0];
                        x.Dispose();
                        y.Dispose();
                    }
                });
                return count / seconds;
            }
            ImagesPerSecond(Parallelism.Auto);
            var (one, auto) = (new List<double>(), new List<double>());
            for (int round = 0; round < Rounds; round++)
            {
                if (round % 2 == 0) { one.Add(ImagesPerSecond(1)); auto.Add(ImagesPerSecond(Parallelism.Auto)); }
                else { auto.Add(ImagesPerSecond(Parallelism.Auto)); one.Add(ImagesPerSecond(1)); }
                Console.Error.WriteLine($"round {round + 1}: one worker {one[^1]:F0} images/s, auto {auto[^1]:F0} images/s");
            }
            var (oneLoaded, autoLoaded) = (new List<double>(), new List<double>());
            using (CpuLoad.Start(1))
                for (int round = 0; round < 3; round++)
                {
                    oneLoaded.Add(ImagesPerSecond(1));
                    autoLoaded.Add(ImagesPerSecond(Parallelism.Auto));
                }
            double share = InputWaitShare(Path.Combine(root, "digits"));
            Console.WriteLine($"images_per_s_one_worker={Measure.Median(one):F0}");
            Console.WriteLine($"images_per_s_auto={Measure.Median(auto):F0}");
            Console.WriteLine($"image_pipeline_speedup={Measure.Median(auto) / Measure.Median(one):F2}");
            Console.WriteLine($"image_pipeline_speedup_loaded={Measure.Median(autoLoaded) / Measure.Median(oneLoaded):F2}");
            Console.WriteLine($"image_input_wait_share={share:F4}");
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The first <paramref name="count"/> digits as image files in class folders,
    /// enlarged to <paramref name="size"/> and, for JPEGs, tinted by class.</summary>
    static void WriteImages(string folder, torch.Tensor images, torch.Tensor labels, int count, int size, bool jpeg)
    {
        var pixels = images.mul(255).to_type(torch.ScalarType.Byte).data<byte>().ToArray();
        var classes = labels.data<long>().ToArray();
        Parallel.For(0, count, i =>
        {
            var dir = Path.Combine(folder, classes[i].ToString(System.Globalization.CultureInfo.InvariantCulture));
            Directory.CreateDirectory(dir);
            using var image = new Image<Rgb24>(28, 28);
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                {
                    byte v = pixels[i * 784 + y * 28 + x];
                    image[x, y] = jpeg ? new Rgb24(v, (byte)(v * (classes[i] + 1) / 11), (byte)(255 - v)) : new Rgb24(v, v, v);
                }
            if (size != 28) image.Mutate(m => m.Resize(size, size));
            var path = Path.Combine(dir, $"{i}.{(jpeg ? "jpg" : "png")}");
            if (jpeg) image.SaveAsJpeg(path);
            else image.SaveAsPng(path);
        });
    }

    /// <summary>One epoch of the CNN trained from the decoded, augmented digits: the share of
    /// its time spent waiting for the next batch (the second epoch, after the first warmed up).</summary>
    static double InputWaitShare(string digits)
    {
        using var model = new Model(
            new Sequential(
                new Conv2D(32, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
                new Conv2D(64, 3, activation: ActivationFunction.Relu), new MaxPool2D(),
                new Flatten(), new Dense(128, activation: ActivationFunction.Relu), new Dense(10)),
            [1, 28, 28], Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(2e-3), seed: 0);
        // Small images: augmented a batch at a time (the same draws as image by image).
        var train = DataStream.ImageFolder(digits, 28, 28, channels: 1)
            .Shuffle(2048, seed: 3).Batch(128).Stack()
            .AugmentBatches(new ImageAugmentation { Rotation = 0.03, Zoom = 0.1, Translation = 0.05 }, seed: 2).Prefetch(4);
        var history = model.Fit(train.ToBatchSource(), new FitOptions { Epochs = 2, Verbosity = Verbosity.Silent });
        var times = history.StepTimes[^1];
        Console.Error.WriteLine($"CNN from the image pipeline: {times}, {times.Steps} steps, loss {history["loss"][^1]:F3}");
        return times.InputWaitShare;
    }
}
