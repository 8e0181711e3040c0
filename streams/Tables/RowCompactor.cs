namespace Functional.Streams.Tables;

/// <summary>
/// Keeps a shuffle buffer of rows from holding many record batches alive for a few rows each.
/// A batch lives until its last row leaves the buffer, and rows leave in random order, so
/// without this a buffer of B rows over batches of R rows keeps about B × ln R rows' worth of
/// batches. When the batches held exceed twice the rows' own bytes (plus one batch), the rows
/// of batches less than half present are copied into one new batch and the old ones released.
/// </summary>
internal sealed class RowCompactor
{
    readonly Dictionary<SharedBatch, int> held = new(ReferenceEqualityComparer.Instance);
    long heldBytes, rowBytes, largestBatch;
    int sinceCheck;

    public void Added(Row row)
    {
        var owner = row.Owner;
        if (held.TryGetValue(owner, out int count)) held[owner] = count + 1;
        else
        {
            held[owner] = 1;
            heldBytes += owner.TotalBytes;
            largestBatch = Math.Max(largestBatch, owner.TotalBytes);
        }
        rowBytes += owner.RowBytes;
    }

    public void Removed(Row row)
    {
        var owner = row.Owner;
        int count = held[owner] - 1;
        if (count == 0)
        {
            held.Remove(owner);
            heldBytes -= owner.TotalBytes;
        }
        else held[owner] = count;
        rowBytes -= owner.RowBytes;
    }

    /// <summary>Compacts <paramref name="buffer"/> when its batches hold much more than its rows (checked every few additions).</summary>
    public void MaybeCompact(List<Sourced<Row>> buffer)
    {
        if (++sinceCheck < Math.Max(64, buffer.Count / 8)) return;
        sinceCheck = 0;
        if (heldBytes <= 2 * rowBytes + largestBatch) return;
        var sparse = new HashSet<SharedBatch>(ReferenceEqualityComparer.Instance);
        foreach (var (owner, count) in held)
            if (2L * count < owner.Batch.Length) sparse.Add(owner);
        if (sparse.Count < 2) return;
        var positions = new List<int>();
        for (int i = 0; i < buffer.Count; i++)
            if (sparse.Contains(buffer[i].Value.Owner)) positions.Add(i);
        var rows = positions.Select(i => buffer[i].Value).ToArray();
        var compacted = new SharedBatch(RowGather.ToRecordBatch(rows), "a shuffle buffer");
        for (int k = 0; k < positions.Count; k++)
        {
            var old = buffer[positions[k]];
            var row = new Row(compacted, k);
            buffer[positions[k]] = new(row, old.Origin);
            Removed(old.Value);
            Added(row);
            old.Value.Dispose();
        }
    }
}
