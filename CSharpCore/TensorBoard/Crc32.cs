namespace Functional.TensorBoard;

/// <summary>Table-driven CRC-32 for a reflected polynomial: PNG's (0xEDB88320) and TFRecord's
/// CRC-32C (0x82F63B78).</summary>
sealed class Crc32(uint polynomial)
{
    readonly uint[] table = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? polynomial ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>PNG's CRC-32.</summary>
    public static Crc32 Png { get; } = new(0xEDB88320u);

    /// <summary>CRC-32C (Castagnoli), TFRecord's.</summary>
    public static Crc32 Castagnoli { get; } = new(0x82F63B78u);

    /// <summary>The CRC of <paramref name="bytes"/>.</summary>
    public uint Of(IEnumerable<byte> bytes)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (var b in bytes) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }
}
