using static TorchSharp.torch;

namespace Functional.Streams.Columns;

/// <summary>The tensor dtype of a .NET value type.</summary>
internal static class DTypes
{
    public static ScalarType Of<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? ScalarType.Float32
        : typeof(T) == typeof(double) ? ScalarType.Float64
        : typeof(T) == typeof(Half) ? ScalarType.Float16
        : typeof(T) == typeof(sbyte) ? ScalarType.Int8
        : typeof(T) == typeof(short) ? ScalarType.Int16
        : typeof(T) == typeof(int) ? ScalarType.Int32
        : typeof(T) == typeof(long) ? ScalarType.Int64
        : typeof(T) == typeof(byte) ? ScalarType.Byte
        : typeof(T) == typeof(bool) ? ScalarType.Bool
        : throw new NotSupportedException($"{typeof(T).Name} has no tensor dtype.");
}
