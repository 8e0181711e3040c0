using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace Functional.Streams.Records;

/// <summary>
/// One column being filled from parsed records by its <see cref="TfFeatureSpec"/>: a fixed
/// feature (plain or nested fixed-size lists), a variable one (a list), or, for
/// SequenceExamples, a sequence of fixed-shape steps (a list of them). Mismatches name the
/// record (<c>where</c>) and the feature.
/// </summary>
internal sealed class FeatureColumn(TfFeatureSpec spec, bool sequence)
{
    static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);
    readonly List<long> int64s = [];
    readonly List<float> floats = [];
    readonly List<byte[]> bytes = [];
    readonly List<string> strings = [];
    readonly List<int> offsets = [0];
    int rows, items;

    public TfFeatureSpec Spec { get; } = spec;

    /// <summary>Whether this column holds a SequenceExample's feature list (a list of steps).</summary>
    public bool IsSequence { get; } = sequence;

    public Field Field => new(Spec.Name, IsSequence ? new ListType(new Field("item", Spec.ArrowType, nullable: false)) : Spec.ArrowType, nullable: false);

    /// <summary>Adds one record's feature (null: the record lacks it).</summary>
    public void Add(TfFeature? feature, Func<string> where)
    {
        if (Spec.IsVariable)
        {
            if (feature is not null) Append(feature, where);
            offsets.Add(items);
        }
        else
        {
            feature ??= Spec.Default ?? throw new InvalidDataException($"{where()}: no feature '{Spec.Name}', and its description gives no default.");
            RequireFixedCount(feature, where, "");
            Append(feature, where);
        }
        rows++;
    }

    /// <summary>Adds one record's steps (null: the record lacks the feature list: no steps).</summary>
    public void AddSteps(IReadOnlyList<TfFeature>? steps, Func<string> where)
    {
        for (int step = 0; step < (steps?.Count ?? 0); step++)
        {
            RequireFixedCount(steps![step], where, $" at step {step}");
            Append(steps[step], where);
        }
        items = checked(items + (steps?.Count ?? 0));
        offsets.Add(items);
        rows++;
    }

    void RequireFixedCount(TfFeature feature, Func<string> where, string step)
    {
        if (feature.Count != Spec.ElementCount)
            throw new InvalidDataException($"{where()}: feature '{Spec.Name}'{step} has {feature.Count} values; its description ({Spec}) needs {Spec.ElementCount}.");
    }

    void Append(TfFeature feature, Func<string> where)
    {
        if (feature.Kind != TfFeatureKind.Empty && feature.Kind != Spec.Kind)
            throw new InvalidDataException($"{where()}: feature '{Spec.Name}' holds {feature.Kind.ToString().ToLowerInvariant()} values; its description ({Spec}) reads {Spec.Kind.ToString().ToLowerInvariant()}.");
        switch (Spec.Type)
        {
            case TfFeatureType.Int64: int64s.AddRange(feature.Int64Values); break;
            case TfFeatureType.Float32: floats.AddRange(feature.FloatValues); break;
            case TfFeatureType.Bytes: bytes.AddRange(feature.BytesValues); break;
            default:
                foreach (var value in feature.BytesValues)
                {
                    try { strings.Add(StrictUtf8.GetString(value)); }
                    catch (DecoderFallbackException)
                    {
                        throw new InvalidDataException($"{where()}: feature '{Spec.Name}' holds bytes that are not UTF-8 text; describe it as TfFeatureType.Bytes.");
                    }
                }
                break;
        }
        if (!IsSequence) items = checked(items + feature.Count);
    }

    /// <summary>The column of the records added so far; the column starts empty again.</summary>
    public IArrowArray Build()
    {
        IArrowArray values = Spec.Type switch
        {
            TfFeatureType.Int64 => new Int64Array.Builder().AppendRange(int64s).Build(),
            TfFeatureType.Float32 => new FloatArray.Builder().AppendRange(floats).Build(),
            TfFeatureType.Bytes => BuildBinary(bytes),
            _ => new StringArray.Builder().AppendRange(strings).Build(),
        };
        int count = values.Length;
        if (!Spec.IsVariable)
            for (int d = Spec.Shape.Count - 1; d >= 0; d--)
            {
                count /= Spec.Shape[d];
                var type = new FixedSizeListType(new Field("item", values.Data.DataType, nullable: false), Spec.Shape[d]);
                values = new FixedSizeListArray(new ArrayData(type, count, 0, 0, [ArrowBuffer.Empty], [values.Data]));
            }
        if (Spec.IsVariable || IsSequence)
            values = new ListArray(new ListType(new Field("item", values.Data.DataType, nullable: false)), rows,
                new ArrowBuffer.Builder<int>().AppendRange(offsets).Build(), values, ArrowBuffer.Empty, 0);
        int64s.Clear(); floats.Clear(); bytes.Clear(); strings.Clear();
        offsets.Clear(); offsets.Add(0);
        rows = items = 0;
        return values;
    }

    static BinaryArray BuildBinary(List<byte[]> values)
    {
        var builder = new BinaryArray.Builder();
        foreach (var value in values) builder.Append(value.AsSpan());
        return builder.Build();
    }
}
