using Apache.Arrow;
using Apache.Arrow.Types;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Streams;

/// <summary>
/// A CSV file in memory as a float32 feature matrix and a label vector, in one call (pandas'
/// <c>read_csv</c> then <c>values</c>, tf.data's <c>make_csv_dataset</c>): every selected column
/// but the label is a feature. Integer, boolean and text labels (text as class indices, see
/// <see cref="Classes"/>) are int64; floating-point labels float32. Disposing releases the tensors.
/// </summary>
/// <example><c>using var data = CsvFeatures.Load("wine_data.csv", "column_13", new CsvOptions { HasHeader = false, SkipLines = 1 });</c></example>
public sealed class CsvFeatures : IDisposable
{
    CsvFeatures(Tensor features, Tensor? labels, string[] featureNames, string? labelName, string[]? classes) =>
        (Features, Labels, FeatureNames, LabelName, Classes) = (features, labels, featureNames, labelName, classes);

    /// <summary>The features, float32 [rows, features].</summary>
    public Tensor Features { get; }

    /// <summary>The labels [rows] (int64 or float32), or null when no label column was named.</summary>
    public Tensor? Labels { get; }

    /// <summary>The feature columns' names, in the order of <see cref="Features"/>' columns.</summary>
    public IReadOnlyList<string> FeatureNames { get; }

    /// <summary>The label column's name, or null.</summary>
    public string? LabelName { get; }

    /// <summary>For a text label column, its distinct values in ordinal order: label i is Classes[i]; otherwise null.</summary>
    public IReadOnlyList<string>? Classes { get; }

    /// <summary>Rows read.</summary>
    public long Rows => Features.shape[0];

    /// <summary>
    /// Reads <paramref name="path"/> (laid out as <paramref name="options"/> say) into features
    /// and, when <paramref name="labelColumn"/> is given, labels. A feature column of text, or an
    /// empty field without a default, is an error naming the file, column and line.
    /// </summary>
    public static CsvFeatures Load(string path, string? labelColumn = null, CsvOptions? options = null)
    {
        options ??= new CsvOptions();
        var schema = DataStream.InferCsvSchema(path, options);
        if (labelColumn is not null && schema.GetFieldIndex(labelColumn) < 0)
            throw new ArgumentException($"{path} has no label column '{labelColumn}'; its columns are {string.Join(", ", schema.FieldsList.Select(f => f.Name))}.", nameof(labelColumn));
        var featureFields = schema.FieldsList.Where(f => f.Name != labelColumn).ToArray();
        if (featureFields.FirstOrDefault(f => f.DataType is StringType) is { } text)
            throw new ArgumentException($"{path}: column '{text.Name}' holds text, which is not a number; leave it out with SelectColumns, make it the label, or encode it first.", nameof(options));
        int firstLine = options.SkipLines + (options.HasHeader ? 1 : 0) + 1;
        var features = new List<float>();
        var numericLabels = new List<double>();
        var textLabels = new List<string>();
        long rows = 0;
        foreach (var batch in DataStream.CsvBatches(path, options with
        {
            // The schema inferred above, so the file is not read twice to infer it.
            SelectColumns = [.. schema.FieldsList.Select(f => f.Name)],
            ColumnTypes = schema.FieldsList.ToDictionary(f => f.Name, f => f.DataType),
        }).Enumerate())
        {
            using (batch)
            {
                var columns = featureFields.Select(f => batch.Column(f.Name)).ToArray();
                for (int r = 0; r < batch.Length; r++)
                {
                    string Where(string column) => $"{path}, line {firstLine + rows + r}, column '{column}'";
                    for (int c = 0; c < columns.Length; c++)
                        features.Add((float)(NumberAt(columns[c], r) ?? throw new InvalidDataException($"{Where(featureFields[c].Name)}: an empty field; give the column a default (CsvOptions.ColumnDefaults).")));
                    if (labelColumn is null) continue;
                    var label = batch.Column(labelColumn);
                    if (label is StringArray strings) textLabels.Add(strings.GetString(r) ?? "");
                    else numericLabels.Add(NumberAt(label, r) ?? throw new InvalidDataException($"{Where(labelColumn)}: an empty label."));
                }
                rows += batch.Length;
            }
        }
        var featureTensor = torch.tensor(features.ToArray(), [rows, featureFields.Length]);
        if (labelColumn is null) return new CsvFeatures(featureTensor, null, [.. featureFields.Select(f => f.Name)], null, null);
        var labelType = schema.GetFieldByName(labelColumn).DataType;
        string[]? classes = null;
        Tensor labels;
        if (labelType is StringType)
        {
            classes = [.. textLabels.Distinct().Order(StringComparer.Ordinal)];
            var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => (long)p.i);
            labels = torch.tensor(textLabels.Select(t => index[t]).ToArray());
        }
        else if (labelType is FloatType or DoubleType or HalfFloatType) labels = torch.tensor(numericLabels.Select(v => (float)v).ToArray());
        else labels = torch.tensor(numericLabels.Select(v => (long)v).ToArray());
        return new CsvFeatures(featureTensor, labels, [.. featureFields.Select(f => f.Name)], labelColumn, classes);
    }

    static double? NumberAt(IArrowArray array, int row) => array switch
    {
        Int32Array a => a.GetValue(row),
        Int64Array a => a.GetValue(row),
        FloatArray a => a.GetValue(row),
        DoubleArray a => a.GetValue(row),
        BooleanArray a => a.GetValue(row) is { } b ? (b ? 1 : 0) : null,
        _ => throw new NotSupportedException($"A {array.Data.DataType.Name} column is not a number."),
    };

    /// <summary>"569 rows x 30 features (column_0 ... column_29), labels int64 from 'column_30'".</summary>
    public override string ToString()
    {
        string names = FeatureNames.Count <= 4 ? string.Join(", ", FeatureNames) : $"{FeatureNames[0]} ... {FeatureNames[^1]}";
        string labels = Labels is null ? "no labels" : $"labels {Labels.dtype.ToString().ToLowerInvariant()} from '{LabelName}'{(Classes is null ? "" : $" ({Classes.Count} classes)")}";
        return $"{Rows} rows x {FeatureNames.Count} features ({names}), {labels}";
    }

    /// <summary>Releases the tensors.</summary>
    public void Dispose()
    {
        Features.Dispose();
        Labels?.Dispose();
    }
}
