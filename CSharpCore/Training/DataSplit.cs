using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>
/// Seeded, shuffled train/test splits (scikit-learn's train_test_split). FitOptions.ValidationSplit
/// holds out the last rows as they are: on data sorted by class its validation set holds one
/// class. Split first instead.
/// </summary>
public static class DataSplit
{
    /// <summary>
    /// Shuffles the rows with <paramref name="seed"/> and splits off <paramref name="testFraction"/>
    /// of them (at least one row each side). With <paramref name="stratify"/> (integer class
    /// targets of shape (examples)), each class is split in that proportion, so both sides keep the
    /// class balance. The returned tensors are new (the caller disposes them); the same seed gives
    /// the same split.
    /// </summary>
    public static (LabeledData Train, LabeledData Test) TrainTest(Tensor inputs, Tensor targets, double testFraction = 0.25, ulong seed = 0,
        bool stratify = false)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        return TrainTest(new LabeledData(inputs, targets), testFraction, seed, stratify);
    }

    /// <summary>The same split of any labeled data (trees of named inputs and targets, sample
    /// weights): every tensor is cut at the same rows. <paramref name="stratify"/> needs one
    /// target tensor of integer classes.</summary>
    public static (LabeledData Train, LabeledData Test) TrainTest(LabeledData data, double testFraction = 0.25, ulong seed = 0, bool stratify = false)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (testFraction is not (> 0 and < 1))
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "testFraction must be in (0, 1).");
        long rows = data.Rows;
        if (rows < 2) throw new ArgumentException($"TrainTest needs at least 2 rows to split; got {rows}.", nameof(data));
        using var scope = torch.NewDisposeScope();
        using var rng = new torch.Generator(seed);
        var order = torch.randperm(rows, generator: rng);
        Tensor testRows, trainRows;
        if (!stratify)
        {
            long test = Math.Clamp((long)Math.Round(rows * testFraction), 1, rows - 1);
            (testRows, trainRows) = (order[..(int)test], order[(int)test..]);
        }
        else
        {
            var targets = data.Targets.Count == 1 ? data.Targets.Leaves[0] : throw new ArgumentException(
                $"TrainTest: stratify needs one target tensor; got {data.Targets.Count} ({string.Join(", ", data.Targets.Paths)}).", nameof(stratify));
            if (targets.dim() != 1 || targets.is_floating_point())
                throw new ArgumentException($"TrainTest: stratify needs integer class targets of shape (examples); got {targets.dtype} ({string.Join(", ", targets.shape)}).", nameof(data));
            var shuffledTargets = targets.index_select(0, order);
            var (tests, trains) = (new List<Tensor>(), new List<Tensor>());
            foreach (var label in shuffledTargets.unique().output.to_type(ScalarType.Int64).cpu().data<long>().ToArray())
            {
                var members = order.index_select(0, shuffledTargets.eq(label).nonzero().flatten());
                long test = (long)Math.Round(members.shape[0] * testFraction);
                tests.Add(members[..(int)test]);
                trains.Add(members[(int)test..]);
            }
            (testRows, trainRows) = (torch.cat(tests).sort().Values, torch.cat(trains).sort().Values);
            if (testRows.shape[0] == 0 || trainRows.shape[0] == 0)
                throw new ArgumentException($"TrainTest: a stratified split of {rows} rows at {testFraction} leaves one side empty.", nameof(testFraction));
        }
        var (train, testData) = (data.SelectRows(trainRows), data.SelectRows(testRows));
        foreach (var t in train.Tensors.Concat(testData.Tensors)) t.MoveToOuterDisposeScope();
        return (train, testData);
    }
}
