using Functional.Images;
using Functional.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Streams;

/// <summary>
/// Image pipelines as tf.data writes them: paths -&gt; parallel decode -&gt; augment -&gt; batch
/// -&gt; prefetch. Decoding and augmentation run in parallel maps, in order; augmentation is
/// seeded per (seed, epoch, element), so a run is reproducible and each epoch sees new draws.
/// </summary>
public static class ImageStreams
{
    /// <summary>
    /// Each path decoded to a float32 tensor [channels, height, width] in [0, 1] (see
    /// <see cref="DataStream.DecodeImage"/>), <paramref name="parallelism"/> files at once, in
    /// order; files that do not decode fail the stream or are skipped and counted, as
    /// <paramref name="badImages"/> says.
    /// </summary>
    public static DataStream<Tensor> DecodeImages(this DataStream<string> paths, int width, int height, int channels = 3,
        int parallelism = Parallelism.Auto, BadImagePolicy badImages = BadImagePolicy.Fail, Action<string, Exception>? onSkipped = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        DataStream.RequireImageSize(width, height, channels);
        var decoded = paths.Map(path => (Image: Decode(path, width, height, channels, badImages, onSkipped), Label: (Tensor?)null), parallelism, name: "decode images");
        return SkipMissing(decoded, badImages).Map(pair => pair.Image!, name: "images");
    }

    /// <summary>As <see cref="DecodeImages(DataStream{string}, int, int, int, int, BadImagePolicy, Action{string, Exception}?)"/>, keeping each file's label (an int64 scalar).</summary>
    public static DataStream<(Tensor Image, Tensor Label)> DecodeImages(this DataStream<ImageFile> files, int width, int height, int channels = 3,
        int parallelism = Parallelism.Auto, BadImagePolicy badImages = BadImagePolicy.Fail, Action<string, Exception>? onSkipped = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        DataStream.RequireImageSize(width, height, channels);
        var decoded = files.Map(file => (Image: Decode(file.Path, width, height, channels, badImages, onSkipped), Label: (Tensor?)torch.tensor(file.Label)),
            parallelism, name: "decode images");
        return SkipMissing(decoded, badImages).Map(pair => (pair.Image!, pair.Label!), name: "images");
    }

    static Tensor? Decode(string path, int width, int height, int channels, BadImagePolicy policy, Action<string, Exception>? onSkipped)
    {
        try { return DataStream.DecodeImage(path, width, height, channels); }
        catch (Exception e) when (policy == BadImagePolicy.Skip && e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            onSkipped?.Invoke(path, e);
            return null;
        }
    }

    static DataStream<(Tensor? Image, Tensor? Label)> SkipMissing(DataStream<(Tensor? Image, Tensor? Label)> decoded, BadImagePolicy policy) =>
        policy == BadImagePolicy.Fail ? decoded : decoded.DropCounted("skip bad images", pair =>
        {
            if (pair.Image is not null) return true;
            pair.Label?.Dispose();
            return false;
        });

    /// <summary>
    /// Each image [C, H, W] augmented as <paramref name="augmentation"/> says, with the draws of
    /// key (<paramref name="seed"/>, epoch, element index): the same seed gives the same images
    /// in every run of an epoch, and each epoch new ones. Runs <paramref name="parallelism"/>
    /// images at once, in order. The input images are released.
    /// </summary>
    public static DataStream<Tensor> Augment(this DataStream<Tensor> images, ImageAugmentation augmentation, ulong seed, int parallelism = Parallelism.Auto)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(augmentation);
        augmentation.Validated();
        return images.Keyed(seed).Map(pair =>
        {
            using var image = pair.Value;
            return augmentation.Apply(image, pair.Key);
        }, parallelism, name: "augment");
    }

    /// <summary>
    /// Batches of (images [N, C, H, W], labels) augmented as one batched operation each: image j
    /// of the epoch (counting through the batches) gets the draws of key (<paramref name="seed"/>,
    /// epoch, j), so the result equals <see cref="Augment(DataStream{Tensor}, ImageAugmentation, ulong, int)"/>
    /// before batching, at a fraction of the cost for small images. Labels pass through.
    /// </summary>
    public static DataStream<(Tensor Inputs, Tensor Targets)> AugmentBatches(this DataStream<(Tensor Inputs, Tensor Targets)> batches,
        ImageAugmentation augmentation, ulong seed, int parallelism = 1)
    {
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(augmentation);
        augmentation.Validated();
        return batches.KeyedRows(seed, batch => batch.Inputs.shape[0]).Map(keyed =>
        {
            using var images = keyed.Value.Inputs;
            return (augmentation.ApplyBatch(images, i => keyed.Key.Fold(keyed.First + i)), keyed.Value.Targets);
        }, parallelism, name: "augment batches");
    }

    /// <summary>As <see cref="Augment(DataStream{Tensor}, ImageAugmentation, ulong, int)"/> for (image, label) pairs; labels pass through.</summary>
    public static DataStream<(Tensor Image, Tensor Label)> Augment(this DataStream<(Tensor Image, Tensor Label)> pairs, ImageAugmentation augmentation, ulong seed,
        int parallelism = Parallelism.Auto)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(augmentation);
        augmentation.Validated();
        return pairs.Keyed(seed).Map(pair =>
        {
            using var image = pair.Value.Image;
            return (augmentation.Apply(image, pair.Key), pair.Value.Label);
        }, parallelism, name: "augment");
    }
}
