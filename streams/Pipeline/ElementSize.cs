using System.Runtime.CompilerServices;
using Apache.Arrow;
using Functional.Streams.Tables;
using TorchSharp;

namespace Functional.Streams;

/// <summary>Bytes an element holds, for the stage counters: Arrow buffers, tensors, rows; 0 for other values.</summary>
internal static class ElementSize
{
    public static long Of<T>(T value) => value switch
    {
        RecordBatch b => OfBatch(b),
        torch.Tensor t => t.IsInvalid ? 0 : t.NumberOfElements * t.ElementSize,
        Row r => r.Bytes,
        byte[] a => a.Length,
        Row[] rows => rows.Length == 0 ? 0 : rows.Length * rows[0].Bytes,
        torch.Tensor[] tensors => tensors.Sum(Of),
        ITuple tuple => OfTuple(tuple),
        _ => 0,
    };

    public static long OfBatch(RecordBatch batch)
    {
        long total = 0;
        foreach (var array in batch.Arrays) total += OfArrayData(array.Data);
        return total;
    }

    static long OfArrayData(ArrayData data)
    {
        long total = 0;
        foreach (var buffer in data.Buffers ?? []) total += buffer.Length;
        foreach (var child in data.Children ?? []) total += OfArrayData(child);
        return total;
    }

    static long OfTuple(ITuple tuple)
    {
        long total = 0;
        for (int i = 0; i < tuple.Length; i++) total += Of(tuple[i]);
        return total;
    }
}
