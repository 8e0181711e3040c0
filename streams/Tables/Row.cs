using System.Runtime.InteropServices;
using Apache.Arrow;
using Functional.Streams.Columns;

namespace Functional.Streams.Tables;

/// <summary>
/// One row of a record batch, as a stream element (<see cref="RowStreams.Rows"/>): a view that
/// keeps its batch alive until it is released. Stages that consume rows release them (batching
/// into tensors, filter, shuffle on cancellation); a row lent to a map or filter function is
/// valid during the call.
/// </summary>
public readonly struct Row : IDisposable, IEquatable<Row>
{
    readonly SharedBatch owner;

    internal Row(SharedBatch owner, int index) => (this.owner, Index) = (owner, index);

    internal SharedBatch Owner => owner;

    /// <summary>The record batch the row belongs to.</summary>
    public RecordBatch Batch => owner.Batch;

    /// <summary>The row's index in <see cref="Batch"/>.</summary>
    public int Index { get; }

    /// <summary>Bytes of the batch's buffers per row (for the stage counters).</summary>
    public long Bytes => owner?.RowBytes ?? 0;

    /// <summary>The value of primitive column <paramref name="column"/> (float, double, int8/16/32/64, uint8, half).</summary>
    public TValue Get<TValue>(string column) where TValue : unmanaged => Values<TValue>(column)[0];

    /// <summary>The values of column <paramref name="column"/> in this row (one value, or a fixed-size list's values, flattened).</summary>
    public ReadOnlySpan<TValue> Values<TValue>(string column) where TValue : unmanaged
    {
        var layout = owner.Layout(column);
        if (layout.DType != DTypes.Of<TValue>())
            throw new ArgumentException($"Column '{column}' holds {layout.Describe()}; read it as the matching .NET type, not {typeof(TValue).Name}.", nameof(column));
        return MemoryMarshal.Cast<byte, TValue>(layout.RowSpan(Index));
    }

    /// <summary>The value of string column <paramref name="column"/> (null when null).</summary>
    public string? GetString(string column) =>
        Batch.Column(column) is StringArray strings
            ? strings.GetString(Index)
            : throw new ArgumentException($"Column '{column}' is {Batch.Column(column).Data.DataType.Name}, not a string column.", nameof(column));

    /// <summary>Gives the row's reference to its batch back.</summary>
    public void Dispose() => owner?.Release();

    /// <inheritdoc/>
    public bool Equals(Row other) => ReferenceEquals(owner, other.owner) && Index == other.Index;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Row other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(owner, Index);

    /// <summary>"row 12 of a batch from data/train.parquet".</summary>
    public override string ToString() => $"row {Index} of a batch from {owner?.Source}";
}
