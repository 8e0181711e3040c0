using Functional.Profiling;
using Functional.Training;
using static TorchSharp.torch;

namespace Functional.Streams.Training;

/// <summary>Streams as the data of <c>Model.Fit</c> and <c>Model.Evaluate</c>.</summary>
public static class StreamTraining
{
    /// <summary>
    /// The stream as a batch source: epoch e of Fit is run e of the stream (so per-epoch shuffles
    /// reshuffle), each element one step. Fit disposes the tensors after each step, and when it
    /// stops early the stream's stages are cancelled and release their buffers. The time Fit
    /// waits for each batch is its input wait (<c>History.StepTimes</c>, <c>StepTimes.InputWaitShare</c>).
    /// </summary>
    /// <param name="stream">Batches of (inputs, targets).</param>
    /// <param name="count">Examples per epoch, when known (for progress); -1 when not.</param>
    public static IBatchSource ToBatchSource(this DataStream<(Tensor Inputs, Tensor Targets)> stream, long count = -1)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return new StreamBatchSource<(Tensor Inputs, Tensor Targets)>(stream, count, pair => pair);
    }

    /// <summary>A stream of batches of trees (named inputs and targets, sample weights) as a
    /// batch source; otherwise as the (inputs, targets) overload.</summary>
    /// <param name="stream">Batches of a model's inputs, targets and weights.</param>
    /// <param name="count">Examples per epoch, when known (for progress); -1 when not.</param>
    public static IBatchSource ToBatchSource(this DataStream<Batch> stream, long count = -1)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return new StreamBatchSource<Batch>(stream, count, batch => batch);
    }

    /// <summary>Reads this stream's stages at each step a <see cref="Profiler"/> records in a
    /// custom loop (Fit does it for a stream given as its batch source).</summary>
    public static Profiler Watch<T>(this Profiler profiler, DataStream<T> stream)
    {
        ArgumentNullException.ThrowIfNull(profiler);
        ArgumentNullException.ThrowIfNull(stream);
        profiler.Watch(new StageReader<T>(stream));
        return profiler;
    }

    sealed class StageReader<T>(DataStream<T> stream) : IStageCounters
    {
        public IReadOnlyList<StageCounters> ReadStages() => [.. stream.Stages.Select(stage => stage.Snapshot()).Select(s =>
            new StageCounters(s.Name, s.Busy, s.WaitingUpstream, s.Elements, s.Workers))];
    }

    sealed class StreamBatchSource<T>(DataStream<T> stream, long count, Func<T, Batch> toBatch) : IBatchSource, IStageCounters
    {
        readonly StageReader<T> stages = new(stream);

        public long Count { get; } = count;

        public IEnumerable<Batch> Batches(int epoch) => stream.Enumerate(epoch).Select(toBatch);

        public IReadOnlyList<StageCounters> ReadStages() => stages.ReadStages();
    }
}
