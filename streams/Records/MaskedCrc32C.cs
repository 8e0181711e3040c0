using System.Numerics;

namespace Functional.Streams.Records;

/// <summary>
/// The checksum TFRecord framing uses: CRC-32C (Castagnoli), rotated right by 15 bits and offset
/// by 0xa282ead8 ("masked", so a CRC stored inside checksummed data does not checksum to a
/// pattern). System.IO.Hashing has no CRC-32C; the runtime's <see cref="BitOperations.Crc32C(uint, ulong)"/>
/// computes it with the processor's CRC32 instruction where there is one.
/// </summary>
internal static class MaskedCrc32C
{
    const uint MaskDelta = 0xa282ead8;

    /// <summary>The masked CRC-32C of <paramref name="data"/>.</summary>
    public static uint Of(ReadOnlySpan<byte> data) => Mask(Crc32C(data));

    /// <summary>The plain CRC-32C of <paramref name="data"/> (0xE3069283 for "123456789").</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = ~0u;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BitConverter.ToUInt64(data));
            data = data[8..];
        }
        foreach (var b in data) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    static uint Mask(uint crc) => ((crc >> 15) | (crc << 17)) + MaskDelta;
}
