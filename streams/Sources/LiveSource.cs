using System.Threading.Channels;

namespace Functional.Streams;

public static partial class DataStream
{
    /// <summary>
    /// A live (hot) source: each run subscribes to <paramref name="source"/> and yields what it
    /// pushes from then on, until it completes (its error ends the run as a
    /// <see cref="StreamException"/>). Up to <paramref name="capacity"/> elements wait for the
    /// consumer; when the buffer is full, <paramref name="policy"/> decides, and the stage's
    /// counters (<see cref="StageSnapshot.Dropped"/>) count what was dropped. Dropping policies
    /// make the data depend on timing (not deterministic).
    /// </summary>
    /// <example><c>DataStream.FromObservable(sensor.Readings, capacity: 256, OverflowPolicy.DropOldest).WindowByTime(TimeSpan.FromSeconds(1))</c></example>
    public static DataStream<T> FromObservable<T>(IObservable<T> source, int capacity = 1024, OverflowPolicy policy = OverflowPolicy.Block,
        string name = "observable")
    {
        ArgumentNullException.ThrowIfNull(source);
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "The buffer needs room for at least 1 element.");
        return new DataStream<T>($"{name}(live, {policy})", (run, stats) => Live(source, capacity, policy, name, run, stats)) { IsLive = true };
    }

    static IEnumerable<Sourced<T>> Live<T>(IObservable<T> source, int capacity, OverflowPolicy policy, string name, StreamRun run, StageStats stats)
    {
        var options = new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = policy switch
            {
                OverflowPolicy.DropOldest => BoundedChannelFullMode.DropOldest,
                OverflowPolicy.DropNewest => BoundedChannelFullMode.DropWrite,
                _ => BoundedChannelFullMode.Wait,
            },
        };
        var channel = Channel.CreateBounded<T>(options, dropped =>
        {
            stats.Dropped();
            Ownership.Release(dropped);
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(run.Token);
        var observer = new ChannelObserver<T>(channel.Writer, policy, capacity, stop.Token);
        using (source.Subscribe(observer))
        {
            long row = 0;
            try
            {
                while (true)
                {
                    bool more;
                    try { more = channel.Reader.WaitToReadAsync(run.Token).AsTask().GetAwaiter().GetResult(); }
                    catch (Exception e) when (e is not OperationCanceledException) { throw new StreamException(name, null, e); }
                    if (!more) yield break;
                    while (channel.Reader.TryRead(out var item)) yield return new(item, new Origin(name, row++));
                }
            }
            finally
            {
                // Unblock a producer waiting for room, then release what nobody will read.
                stop.Cancel();
                while (channel.Reader.TryRead(out var left)) Ownership.Release(left);
            }
        }
    }

    sealed class ChannelObserver<T>(ChannelWriter<T> writer, OverflowPolicy policy, int capacity, CancellationToken stop) : IObserver<T>
    {
        public void OnNext(T value)
        {
            if (writer.TryWrite(value)) return;
            switch (policy)
            {
                case OverflowPolicy.Block:
                    try { writer.WriteAsync(value, stop).AsTask().GetAwaiter().GetResult(); }
                    catch (Exception e) when (e is OperationCanceledException or ChannelClosedException) { Ownership.Release(value); }
                    break;
                case OverflowPolicy.Fail:
                    Ownership.Release(value);
                    writer.TryComplete(new InvalidOperationException(
                        $"the consumer fell behind and the buffer of {capacity} elements overflowed (OverflowPolicy.Fail)"));
                    break;
                default:
                    Ownership.Release(value); // the channel was completed
                    break;
            }
        }

        public void OnError(Exception error) => writer.TryComplete(error);

        public void OnCompleted() => writer.TryComplete();
    }
}
