using Functional.Autodiff;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Distributed;

/// <summary>
/// The gradients' all-reduce started during the backward pass (PyTorch DDP's overlap), built
/// without gradient hooks, which TorchSharp lacks: in the forward pass the parameters go through
/// an identity marker per bucket; when the reverse pass reaches a bucket's marker, the bucket's
/// gradients are complete, so the marker's backward packs them into the bucket's buffer, starts a
/// non-blocking all-reduce (MPI_Iallreduce) and lets MPI move the earlier ones on (MPI progresses
/// only inside its calls). <see cref="Finish"/> starts the buckets no marker reached, waits for
/// all and writes the sums into the gradients. Buckets follow the parameters in reverse path
/// order (the order the reverse pass meets a Sequential's layers); float32 parameters only.
/// </summary>
sealed class OverlappedReduction : IDisposable
{
    readonly Communicator communicator;
    readonly string[][] buckets;
    readonly Tensor[] buffers;
    readonly IntPtr[] requests;
    readonly bool[] started;
    int startedCount;

    public OverlappedReduction(Communicator communicator, TensorTree parameters, long bucketElements)
    {
        this.communicator = communicator;
        var groups = new List<List<string>>();
        long filled = 0;
        for (int i = parameters.Count - 1; i >= 0; i--)
        {
            if (parameters.Leaves[i].dtype != ScalarType.Float32)
                throw new ArgumentException($"Overlapped communication reduces float32 parameters; '{parameters.Paths[i]}' is {parameters.Leaves[i].dtype}.");
            long size = parameters.Leaves[i].numel();
            if (groups.Count == 0 || filled + size > bucketElements)
            {
                groups.Add([]);
                filled = 0;
            }
            groups[^1].Add(parameters.Paths[i]);
            filled += size;
        }
        buckets = [.. groups.Select(g => g.ToArray())];
        // Made during a step's forward pass: kept out of its dispose scope, for every step of the Fit.
        buffers = [.. buckets.Select(b => torch.empty(b.Sum(p => parameters[p].numel())).DetachFromDisposeScope())];
        requests = new IntPtr[buckets.Length];
        started = new bool[buckets.Length];
    }

    /// <summary>The parameters, each bucket through its marker (the values are the same tensors).</summary>
    public TensorTree Mark(TensorTree parameters)
    {
        Array.Clear(started);
        startedCount = 0;
        var marked = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int b = 0; b < buckets.Length; b++)
        {
            int bucket = b;
            var inputs = TensorTree.FromLeaves(buckets[b].Select(p => (p, parameters[p])));
            var outputs = Transforms.CustomVjp(
                x => (x, TensorTree.Empty),
                (_, cotangent) =>
                {
                    Start(bucket, cotangent);
                    return cotangent;
                },
                "overlapped_all_reduce")(inputs);
            foreach (var (path, leaf) in outputs.Paths.Zip(outputs.Leaves)) marked[path] = leaf;
        }
        return parameters.Map((path, t) => marked[path]);
    }

    void Start(int bucket, TensorTree gradients)
    {
        using var scope = torch.NewDisposeScope();
        long offset = 0;
        foreach (var path in buckets[bucket])
        {
            var g = gradients[path];
            buffers[bucket].narrow(0, offset, g.numel()).copy_(g.reshape(-1));
            offset += g.numel();
        }
        requests[startedCount++] = communicator.StartSum(Communicator.Address(buffers[bucket]), (int)buffers[bucket].numel());
        started[bucket] = true;
        communicator.Test(requests, startedCount);
    }

    /// <summary>Starts what the reverse pass did not reach (in bucket order, the same on every
    /// rank), waits for every bucket and writes the sums into <paramref name="gradient"/>.</summary>
    public void Finish(TensorTree gradient)
    {
        for (int b = 0; b < buckets.Length; b++)
            if (!started[b]) Start(b, gradient);
        communicator.WaitAll(requests, startedCount);
        using var scope = torch.NewDisposeScope();
        for (int b = 0; b < buckets.Length; b++)
        {
            long offset = 0;
            foreach (var path in buckets[b])
            {
                var g = gradient[path];
                g.copy_(buffers[b].narrow(0, offset, g.numel()).view(g.shape));
                offset += g.numel();
            }
        }
    }

    public void Dispose()
    {
        foreach (var buffer in buffers) buffer.Dispose();
    }
}
