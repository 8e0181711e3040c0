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
    readonly int firstDataLine;
    long row = -1;

    CsvFile(string path, CsvDataReader reader, string[] names, int[] selected, int firstDataLine) =>
        (this.path, this.reader, Names, Selected, this.firstDataLine) = (path, reader, names, selected, firstDataLine);

    /// <summary>Every column's name, in file order.</summary>
    public string[] Names { get; }

    /// <summary>The indices of the columns to read, in the order asked for.</summary>
    public int[] Selected { get; }

    /// <summary>The line the current row starts on (1-based; rows with quoted line breaks count as one line).</summary>
    public long Line => firstDataLine + row;

    public static CsvFile Open(string path, CsvOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No CSV file at '{path}'.", path);
        System.IO.Stream stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        CsvDataReader reader;
        try
        {
            if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) stream = new GZipStream(stream, CompressionMode.Decompress);
            var text = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            for (int skipped = 0; skipped < options.SkipLines; skipped++)
                if (text.ReadLine() is null) throw new InvalidDataException($"{path} has {skipped} lines; SkipLines is {options.SkipLines}.");
            reader = CsvDataReader.Create(text, new CsvDataReaderOptions { HasHeaders = options.HasHeader, Delimiter = options.Delimiter, Quote = options.Quote, Escape = options.Quote });
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException or InvalidDataException))
        {
            stream.Dispose();
            // An empty file (no header), a first line longer than the reader's buffer, damaged
            // gzip, ... (the reader reads ahead when it opens, so the line is not known).
            throw new InvalidDataException($"{path}: not readable as CSV where it starts: {e.Message}", e);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
        try
        {
            var names = NamesOf(path, reader, options);
            var selected = (options.SelectColumns ?? names).Select(name =>
            {
                int index = Array.IndexOf(names, name);
                return index >= 0 ? index : throw new ArgumentException($"{path} has no column '{name}' to select; its columns are {string.Join(", ", names)}.", nameof(options));
            }).ToArray();
            return new CsvFile(path, reader, names, selected, options.SkipLines + (options.HasHeader ? 1 : 0) + 1);
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
        bool more;
        row++;
        try { more = reader.Read(); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidDataException($"{path}, line {Line}: not valid CSV: {e.Message}", e);
        }
        if (more && reader.RowFieldCount != Names.Length)
            throw new InvalidDataException($"{path}, line {Line}: {reader.RowFieldCount} fields, but the file has {Names.Length} columns.");
        return more;
    }

    /// <summary>The current row's field <paramref name="index"/>.</summary>
    public string Field(int index) => reader.GetString(index);

    public void Dispose() => reader.Dispose();
}
