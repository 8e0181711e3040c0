using System.IO.Compression;
using System.Text;
using Sylvan.Data.Csv;

namespace Functional.Streams;

/// <summary>
/// An open CSV file as <see cref="CsvOptions"/> lay it out: gzip for ".gz" names, lines skipped,
/// the column names (header, given, or generated), the selected columns, and rows read with the
/// line each starts on, so errors name the file and line.
/// </summary>
internal sealed class CsvFile : IDisposable
{
    readonly CsvDataReader reader;
    readonly string path;
    readonly IReadOnlyCollection<string>? missing;
    readonly char? comment;
    // The line the next row starts on: the previous row's start plus its line breaks (a quoted
    // field can hold some) and the blank lines skipped.
    long nextLine, lineBreaksInRow;

    CsvFile(string path, CsvDataReader reader, string[] names, int[] selected, long firstDataLine, CsvOptions options) =>
        (this.path, this.reader, Names, Selected, nextLine, missing, comment) = (path, reader, names, selected, firstDataLine, options.MissingValues, options.Comment);

    /// <summary>Every column's name, in file order.</summary>
    public string[] Names { get; }

    /// <summary>The indices of the columns to read, in the order asked for.</summary>
    public int[] Selected { get; }

    /// <summary>The line the current row starts on (1-based).</summary>
    public long Line { get; private set; }

    public static CsvFile Open(string path, CsvOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No CSV file at '{path}'.", path);
        System.IO.Stream stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        CsvDataReader? reader = null;
        int skipped = 0;
        try
        {
            if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) stream = new GZipStream(stream, CompressionMode.Decompress);
            var text = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            while (skipped < options.SkipLines && text.ReadLine() is not null) skipped++;
            if (skipped == options.SkipLines)
                reader = CsvDataReader.Create(text, new CsvDataReaderOptions
                {
                    HasHeaders = options.HasHeader,
                    Delimiter = options.Delimiter,
                    Quote = options.Quote,
                    Escape = options.Quote,
                    // Comments are skipped here, not by the reader, so they count as lines.
                    Comment = '\0',
                });
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
        {
            stream.Dispose();
            // An empty file (no header), a first line longer than the reader's buffer, damaged
            // gzip, ... (the reader reads ahead when it opens, so the line is not known).
            throw new InvalidDataException($"{path}: not readable as CSV where it starts: {e.Message}", e);
        }
        if (reader is null)
        {
            stream.Dispose();
            throw new InvalidDataException($"{path} has {skipped} lines; SkipLines is {options.SkipLines}.");
        }
        try
        {
            var names = NamesOf(path, reader, options);
            var selected = (options.SelectColumns ?? names).Select(name =>
            {
                int index = Array.IndexOf(names, name);
                return index >= 0 ? index : throw new ArgumentException($"{path} has no column '{name}' to select; its columns are {string.Join(", ", names)}.", nameof(options));
            }).ToArray();
            return new CsvFile(path, reader, names, selected, options.SkipLines + (options.HasHeader ? 1 : 0) + 1, options);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    static string[] NamesOf(string path, CsvDataReader reader, CsvOptions options)
    {
        int fields = reader.FieldCount;
        string[] names;
        if (options.ColumnNames is { } given)
        {
            if (given.Count != fields)
                throw new ArgumentException($"{path}: {given.Count} column names are given, but line {options.SkipLines + 1} has {fields} fields.", nameof(options));
            names = [.. given];
        }
        else if (options.HasHeader) names = [.. Enumerable.Range(0, fields).Select(reader.GetName)];
        else names = [.. Enumerable.Range(0, fields).Select(CsvOptions.GeneratedName)];
        if (names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new InvalidDataException($"{path}: column '{twice.Key}' is named twice; give ColumnNames.");
        return names;
    }

    /// <summary>The next row; a malformed file (an unclosed quote, a row with another number of fields) names the file and line.</summary>
    public bool Read()
    {
        while (true)
        {
            nextLine += lineBreaksInRow;
            Line = nextLine++;
            bool more;
            try { more = reader.Read(); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new InvalidDataException($"{path}, line {Line}: not valid CSV: {e.Message}", e);
            }
            if (!more) return false;
            lineBreaksInRow = 0;
            for (int i = 0; i < reader.RowFieldCount; i++) lineBreaksInRow += reader.GetFieldSpan(i).Count('\n');
            if (reader.RowFieldCount == 1 && reader.GetFieldSpan(0).IsEmpty) continue;   // a blank line
            if (comment is { } c && reader.GetFieldSpan(0).StartsWith(c)) continue;
            if (reader.RowFieldCount != Names.Length)
                throw new InvalidDataException($"{path}, line {Line}: {reader.RowFieldCount} fields, but the file has {Names.Length} columns.");
            return true;
        }
    }

    /// <summary>The current row's field <paramref name="index"/>, or null for a missing-value marker.</summary>
    public string? Field(int index)
    {
        var text = reader.GetString(index);
        return missing is not null && missing.Contains(text) ? null : text;
    }

    public void Dispose() => reader.Dispose();
}
