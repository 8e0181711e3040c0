namespace Functional.Streams.Records;

/// <summary>How a TFRecord file is compressed as a whole (TensorFlow's <c>compression_type</c>).</summary>
public enum TfRecordCompression
{
    /// <summary>Plain records.</summary>
    None,
    /// <summary>A gzip stream (<c>"GZIP"</c>).</summary>
    Gzip,
    /// <summary>A zlib stream (<c>"ZLIB"</c>).</summary>
    Zlib,
}

/// <summary>Compression chosen by a file's name.</summary>
public static class TfRecordCompressions
{
    /// <summary>Gzip for names ending ".gz" or ".gzip", zlib for ".zlib" or ".zz", none otherwise.</summary>
    public static TfRecordCompression FromPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var extension = Path.GetExtension(path).ToLowerInvariant();
        return extension switch
        {
            ".gz" or ".gzip" => TfRecordCompression.Gzip,
            ".zlib" or ".zz" => TfRecordCompression.Zlib,
            _ => TfRecordCompression.None,
        };
    }
}
