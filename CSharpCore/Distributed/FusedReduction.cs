using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Distributed;

/// <summary>
/// Many tensors reduced as one message (Horovod's fusion buffer): the leaves are packed into a
/// flat buffer per dtype, reduced in buckets, scaled and unpacked. The buffers are
/// kept for the next call, so a training step allocates nothing here.
/// </summary>
sealed class FusedReduction(Communicator communicator) : IDisposable
{
    readonly Dictionary<ScalarType, Tensor> buffers = [];

    /// <summary>
    /// Reduces <paramref name="leaves"/> in place, each multiplied by <paramref name="after"/>[i]
    /// after the reduction when given; <paramref name="extras"/> (a few numbers: a loss, a row
    /// count) travel in the same message and come back summed.
    /// </summary>
    public double[] Run(IReadOnlyList<Tensor> leaves, ReduceOp op, double[]? after = null, double[]? extras = null)
    {
        extras ??= [];
        var groups = leaves.Select((leaf, i) => (Leaf: leaf, Index: i)).GroupBy(l => BufferType(l.Leaf.dtype))
            .Select(g => (Dtype: g.Key, Members: g.ToArray())).ToList();
        // The extras ride with the largest floating group, or alone when there is none.
        int carrier = groups.FindIndex(g => g.Dtype != ScalarType.Int64);
        for (int g = 0; g < groups.Count; g++)
            if (groups[g].Dtype != ScalarType.Int64 && Elements(groups[g].Members) > Elements(groups[carrier].Members)) carrier = g;
        if (extras.Length > 0 && carrier < 0)
        {
            groups.Add((ScalarType.Float64, []));
            carrier = groups.Count - 1;
        }
        var summedExtras = new double[extras.Length];
        for (int g = 0; g < groups.Count; g++)
        {
            var (dtype, members) = groups[g];
            int extraCount = g == carrier ? extras.Length : 0;
            long leafElements = Elements(members), total = leafElements + extraCount;
            var buffer = Buffer(dtype, total);
            using var scope = torch.NewDisposeScope();
            var flat = buffer.narrow(0, 0, total);
            long offset = 0;
            foreach (var (leaf, _) in members)
            {
                flat.narrow(0, offset, leaf.numel()).copy_(leaf.reshape(-1));
                offset += leaf.numel();
            }
            if (extraCount > 0) flat.narrow(0, offset, extraCount).copy_(torch.tensor(extras, dtype: dtype));
            communicator.Reduce(Communicator.Address(flat), total, dtype, op == ReduceOp.Mean ? ReduceOp.Sum : op, "all-reduce of fused tensors");
            if (op == ReduceOp.Mean && leafElements > 0) flat.narrow(0, 0, leafElements).div_(communicator.Size);
            if (extraCount > 0) summedExtras = flat.narrow(0, leafElements, extraCount).to_type(ScalarType.Float64).data<double>().ToArray();
            Scale(flat, members, after);
            offset = 0;
            foreach (var (leaf, _) in members)
            {
                leaf.copy_(flat.narrow(0, offset, leaf.numel()).view(leaf.shape));
                offset += leaf.numel();
            }
        }
        return summedExtras;
    }

    /// <summary>Multiplies each member's span by its factor, one kernel per run of equal factors.</summary>
    static void Scale(Tensor flat, (Tensor Leaf, int Index)[] members, double[]? factors)
    {
        if (factors is null) return;
        long offset = 0, runStart = 0;
        double runFactor = 1;
        foreach (var (leaf, index) in members)
        {
            if (factors[index] != runFactor)
            {
                if (runFactor != 1 && offset > runStart) flat.narrow(0, runStart, offset - runStart).mul_(runFactor);
                (runStart, runFactor) = (offset, factors[index]);
            }
            offset += leaf.numel();
        }
        if (runFactor != 1 && offset > runStart) flat.narrow(0, runStart, offset - runStart).mul_(runFactor);
    }

    static long Elements((Tensor Leaf, int Index)[] members) => members.Sum(m => m.Leaf.numel());

    /// <summary>The dtype a leaf travels in: its own when MPI reduces it, float32 otherwise (16-bit floats).</summary>
    static ScalarType BufferType(ScalarType dtype) => dtype is ScalarType.Float64 or ScalarType.Int64 ? dtype : ScalarType.Float32;

    Tensor Buffer(ScalarType dtype, long elements)
    {
        if (buffers.TryGetValue(dtype, out var buffer) && buffer.numel() >= elements) return buffer;
        buffer?.Dispose();
        using (torch.NewDisposeScope())
        {
            var grown = torch.empty(Math.Max(elements, 1), dtype: dtype);
            buffers[dtype] = grown.DetachFromDisposeScope();
        }
        return buffers[dtype];
    }

    /// <summary>Frees the buffers.</summary>
    public void Dispose()
    {
        foreach (var buffer in buffers.Values) buffer.Dispose();
        buffers.Clear();
    }
}
