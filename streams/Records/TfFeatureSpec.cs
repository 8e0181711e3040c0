using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace Functional.Streams.Records;

/// <summary>The type of a feature's values as read into a column.</summary>
public enum TfFeatureType
{
    /// <summary>int64 values (an Int64List).</summary>
    Int64,
    /// <summary>float32 values (a FloatList).</summary>
    Float32,
    /// <summary>Raw byte strings (a BytesList), as an Arrow binary column.</summary>
    Bytes,
    /// <summary>UTF-8 text (a BytesList), as an Arrow string column.</summary>
    String,
}

/// <summary>
/// How one feature becomes a column, as in tf.io.parse_example's feature description:
/// <see cref="Fixed"/> (tf.io.FixedLenFeature: a fixed shape, a default for records without it)
/// or <see cref="Variable"/> (tf.io.VarLenFeature: any number of values, a list column). A fixed
/// feature of shape [] is a plain column; of shape [d1, ..., dk], nested fixed-size lists, which
/// <c>ToTensors</c> turns into tensors [rows, d1, ..., dk].
/// </summary>
public sealed class TfFeatureSpec
{
    TfFeatureSpec(string name, TfFeatureType type, int[] shape, bool variable, TfFeature? defaultValue)
    {
        (Name, Type, Shape, IsVariable, Default) = (name, type, shape, variable, defaultValue);
        try { ElementCount = shape.Aggregate(1, (a, b) => checked(a * b)); }
        catch (OverflowException) { throw new ArgumentException($"Feature '{name}': shape [{string.Join(", ", shape)}] has more than {int.MaxValue} values.", "shape"); }
    }

    /// <summary>The feature's name (and the column's).</summary>
    public string Name { get; }

    /// <summary>The values' type.</summary>
    public TfFeatureType Type { get; }

    /// <summary>The shape of one record's values (fixed features; per step for sequence features).</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Whether any number of values is allowed (a list column).</summary>
    public bool IsVariable { get; }

    /// <summary>The values a record without the feature gets (fixed features), or null: such a record is an error.</summary>
    public TfFeature? Default { get; }

    /// <summary>Values per record (fixed features).</summary>
    public int ElementCount { get; }

    /// <summary>
    /// A feature with exactly <paramref name="shape"/>'s number of values (a scalar when null or
    /// empty). <paramref name="defaultValue"/> fills records without it: a number, a string or
    /// byte array, or an array of them with the shape's number of values; a single value is
    /// repeated to fill the shape.
    /// </summary>
    public static TfFeatureSpec Fixed(string name, TfFeatureType type, int[]? shape = null, object? defaultValue = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        shape ??= [];
        if (shape.Any(d => d < 1)) throw new ArgumentException($"Feature '{name}': every dimension of the shape must be at least 1; got [{string.Join(", ", shape)}].", nameof(shape));
        var spec = new TfFeatureSpec(name, type, [.. shape], false, null);
        return defaultValue is null ? spec : new TfFeatureSpec(name, type, [.. shape], false, spec.DefaultOf(defaultValue));
    }

    /// <summary>A feature with any number of values (also none, or missing), read as a list column.</summary>
    public static TfFeatureSpec Variable(string name, TfFeatureType type)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new TfFeatureSpec(name, type, [], true, null);
    }

    /// <summary>The Arrow type of one record's value.</summary>
    public IArrowType ArrowType
    {
        get
        {
            IArrowType type = ElementArrowType;
            if (IsVariable) return new ListType(new Field("item", type, nullable: false));
            for (int d = Shape.Count - 1; d >= 0; d--) type = new FixedSizeListType(new Field("item", type, nullable: false), Shape[d]);
            return type;
        }
    }

    internal IArrowType ElementArrowType => Type switch
    {
        TfFeatureType.Int64 => Int64Type.Default,
        TfFeatureType.Float32 => FloatType.Default,
        TfFeatureType.Bytes => BinaryType.Default,
        _ => StringType.Default,
    };

    internal TfFeatureKind Kind => Type switch
    {
        TfFeatureType.Int64 => TfFeatureKind.Int64,
        TfFeatureType.Float32 => TfFeatureKind.Float,
        _ => TfFeatureKind.Bytes,
    };

    /// <summary>"pixels: float32[28, 28]", "tags: int64[*]", "label: string[] = cat".</summary>
    public override string ToString() =>
        $"{Name}: {Type.ToString().ToLowerInvariant()}[{(IsVariable ? "*" : string.Join(", ", Shape))}]{(Default is { } d ? $" = {d}" : "")}";

    static byte[] BytesOf(object value) => value switch
    {
        byte[] bytes => bytes,
        string text => Encoding.UTF8.GetBytes(text),
        _ => throw new InvalidCastException($"{value.GetType().Name} is not text or bytes"),
    };

    TfFeature DefaultOf(object value)
    {
        var values = value is System.Array array and not byte[]? array.Cast<object>().ToArray() : [value];
        if (values.Length != 1 && values.Length != ElementCount)
            throw new ArgumentException($"Feature '{Name}': a default of {values.Length} values for shape [{string.Join(", ", Shape)}] ({ElementCount} values); give one value or {ElementCount}.", "defaultValue");
        var filled = Enumerable.Range(0, ElementCount).Select(i => values[values.Length == 1 ? 0 : i]).ToArray();
        try
        {
            return Type switch
            {
                TfFeatureType.Int64 => TfFeature.Of([.. filled.Select(v => Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture))]),
                TfFeatureType.Float32 => TfFeature.Of([.. filled.Select(v => Convert.ToSingle(v, System.Globalization.CultureInfo.InvariantCulture))]),
                _ => TfFeature.Of([.. filled.Select(BytesOf)]),
            };
        }
        catch (Exception e) when (e is InvalidCastException or FormatException or OverflowException)
        {
            throw new ArgumentException($"Feature '{Name}': the default {value} is not a {Type} value ({e.Message}).", "defaultValue", e);
        }
    }
}
