namespace Functional.ModelOptimization;

/// <summary>How static quantization turns the values a layer saw during calibration into its
/// activation range (PyTorch's observers, TensorRT's calibrators).</summary>
public abstract record Calibration
{
    private protected Calibration() { }

    /// <summary>The smallest and largest values seen: nothing is clipped, and one outlier widens
    /// every step of the grid.</summary>
    public static Calibration MinMax { get; } = new MinMaxCalibration();

    /// <summary>
    /// The range from the (100 - <paramref name="percentile"/>)th to the
    /// <paramref name="percentile"/>th percentile of the values seen (that share cut from each
    /// tail), from a 2048-bin histogram over the observed range (a second pass over the
    /// calibration data): outliers are clipped so the common values get finer steps.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A percentile outside (50, 100].</exception>
    public static Calibration Percentile(double percentile = 99.99) =>
        percentile is > 50 and <= 100 ? new PercentileCalibration(percentile)
            : throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "The percentile must be in (50, 100].");

    /// <summary>Whether a second pass over the data is needed (after the first found the range).</summary>
    internal abstract bool NeedsHistogram { get; }

    internal sealed record MinMaxCalibration : Calibration
    {
        internal override bool NeedsHistogram => false;
        /// <inheritdoc/>
        public override string ToString() => "min-max";
    }

    internal sealed record PercentileCalibration(double Percent) : Calibration
    {
        internal override bool NeedsHistogram => true;
        /// <inheritdoc/>
        public override string ToString() => $"percentile {Percent}";
    }
}

/// <summary>Options of <see cref="Quantization"/>'s rewrites.</summary>
public sealed record QuantizationOptions
{
    /// <summary>A weight scale per output channel (default; more accurate, as fast) or one per kernel.</summary>
    public bool PerChannel { get; init; } = true;

    /// <summary>How calibration data sets the activation ranges (static quantization; min-max by default).</summary>
    public Calibration Calibration { get; init; } = Calibration.MinMax;

    /// <summary>Layers kept in float32, by variables path as <c>Summary()</c> shows them
    /// ("dense_1"): those a sensitivity report found to lose too much.</summary>
    public IReadOnlyCollection<string> Skip { get; init; } = [];

    /// <summary>Static quantization: fold each BatchNorm into the Dense or convolution before it,
    /// and a following activation layer into that layer, first (default), so that ONNX Runtime
    /// fuses the whole block into one integer kernel.</summary>
    public bool Fold { get; init; } = true;

    /// <summary>Examples per calibration batch.</summary>
    public int CalibrationBatchSize { get; init; } = 256;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Calibration, nameof(Calibration));
        ArgumentNullException.ThrowIfNull(Skip, nameof(Skip));
        if (CalibrationBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(CalibrationBatchSize), CalibrationBatchSize, "The calibration batch size must be at least 1.");
    }
}
