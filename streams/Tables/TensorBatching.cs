using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Streams.Tables;

/// <summary>Batching for streams of tensors.</summary>
public static class TensorBatching
{
    /// <summary>Each array of same-shaped tensors stacked into one tensor with a new first dimension; the pieces are disposed.</summary>
    public static DataStream<Tensor> Stack(this DataStream<Tensor[]> stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return stream.Map(pieces =>
        {
            try
            {
                var first = pieces[0].shape;
                foreach (var piece in pieces)
                    if (!piece.shape.SequenceEqual(first))
                        throw new ArgumentException(
                            $"Stack needs tensors of one shape; got ({string.Join(", ", first)}) and ({string.Join(", ", piece.shape)}). Use PaddedBatch for sequences of different lengths.");
                return torch.stack(pieces);
            }
            finally { foreach (var piece in pieces) piece.Dispose(); }
        }, name: "stack");
    }

    /// <summary>
    /// Batches of <paramref name="size"/> tensors of the same rank but different lengths, each
    /// padded with <paramref name="padValue"/> at the end of every dimension to the batch's
    /// largest shape and stacked: [batch, max d1, max d2, ...]. For token sequences of
    /// different lengths.
    /// </summary>
    public static DataStream<Tensor> PaddedBatch(this DataStream<Tensor> stream, int size, double padValue = 0, bool dropRemainder = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return stream.Batch(size, dropRemainder).Map(pieces =>
        {
            try { return Pad(pieces, padValue); }
            finally { foreach (var piece in pieces) piece.Dispose(); }
        }, name: "pad");
    }

    static Tensor Pad(Tensor[] pieces, double padValue)
    {
        int rank = (int)pieces[0].dim();
        if (pieces.Any(p => p.dim() != rank))
            throw new ArgumentException($"PaddedBatch needs tensors of one rank; got ranks {string.Join(", ", pieces.Select(p => p.dim()).Distinct())}.");
        var shape = new long[rank];
        foreach (var piece in pieces)
            for (int d = 0; d < rank; d++) shape[d] = Math.Max(shape[d], piece.shape[d]);
        var result = torch.full([pieces.Length, .. shape], padValue, pieces[0].dtype);
        for (int i = 0; i < pieces.Length; i++)
        {
            using var row = result[i];
            var ranges = pieces[i].shape.Select(n => TensorIndex.Slice(0, n)).ToArray();
            using var target = row.index(ranges);
            target.copy_(pieces[i]);
        }
        return result;
    }

    /// <summary>Each array of (input, target) pairs stacked into one (inputs, targets) batch; the pieces are disposed.</summary>
    public static DataStream<(Tensor Inputs, Tensor Targets)> Stack(this DataStream<(Tensor, Tensor)[]> stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return stream.Map(pairs =>
        {
            try { return (torch.stack(pairs.Select(p => p.Item1)), torch.stack(pairs.Select(p => p.Item2))); }
            finally { foreach (var (a, b) in pairs) { a.Dispose(); b.Dispose(); } }
        }, name: "stack");
    }
}
