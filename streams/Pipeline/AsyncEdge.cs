using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Functional.Streams;

// The IAsyncEnumerable edge: await foreach over a stream.
public sealed partial class DataStream<T>
{
    /// <summary>
    /// The elements of one run as an async sequence (<c>await foreach</c>), so a consumer on an
    /// async code path never blocks a thread while the stream reads. The stream runs on a
    /// background thread at most two elements ahead of the consumer (one handed over, one in the
    /// making), so back-pressure holds.
    /// Cancelling <paramref name="cancellation"/> or leaving the loop early stops the run, joins
    /// its thread and releases the element not yet taken; an error in a stage reaches the
    /// consumer as it does from <see cref="Enumerate"/>. Each element taken belongs to the consumer.
    /// </summary>
    public async IAsyncEnumerable<T> EnumerateAsync(int epoch = 0, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var channel = Channel.CreateBounded<T>(new BoundedChannelOptions(1)
        {
            SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait,
        });
        var pump = Task.Factory.StartNew(() =>
        {
            try
            {
                foreach (var item in Enumerate(epoch, stop.Token))
                {
                    try
                    {
                        // Waits while the consumer has not taken the element before.
                        channel.Writer.WriteAsync(item, stop.Token).AsTask().GetAwaiter().GetResult();
                    }
                    catch (OperationCanceledException)
                    {
                        Ownership.Release(item);
                        throw;
                    }
                }
                channel.Writer.Complete();
            }
            catch (Exception e)
            {
                channel.Writer.Complete(e);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            while (await channel.Reader.WaitToReadAsync(stop.Token).ConfigureAwait(false))
                while (!stop.IsCancellationRequested && channel.Reader.TryRead(out var item))
                    yield return item;
            stop.Token.ThrowIfCancellationRequested();
            await channel.Reader.Completion.ConfigureAwait(false);
        }
        finally
        {
            stop.Cancel();
            await pump.ConfigureAwait(false);
            while (channel.Reader.TryRead(out var left)) Ownership.Release(left);
        }
    }
}
