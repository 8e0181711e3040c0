using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>How progress is shown.</summary>
public enum Verbosity
{
    /// <summary>A bar when the output is a terminal, one line per epoch otherwise (CI, files).</summary>
    Auto,
    /// <summary>Nothing.</summary>
    Silent,
    /// <summary>One line per epoch.</summary>
    Lines,
    /// <summary>An updating bar per epoch.</summary>
    Bar,
}

/// <summary>Settings of <see cref="Model.Fit(Tensor, Tensor, FitOptions?, CancellationToken)"/>, Keras's names.</summary>
public sealed record FitOptions
{
    /// <summary>The epoch to stop before: the number of passes over the data when starting at 0.</summary>
    public int Epochs
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Epochs), value, "Epochs must be at least 1.");
    } = 1;

    /// <summary>The epoch to start at (0-based), to resume a run: Fit trains epochs
    /// InitialEpoch .. Epochs - 1, with the shuffling those epochs had (Keras's initial_epoch).</summary>
    public int InitialEpoch
    {
        get;
        init => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(InitialEpoch), value, "InitialEpoch must be at least 0.");
    }

    /// <summary>Examples per step (for in-memory data).</summary>
    public int BatchSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(BatchSize), value, "BatchSize must be at least 1.");
    } = 32;

    /// <summary>Shuffle the training data every epoch (in-memory data; seeded by the model's seed).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Data evaluated after every epoch ("val_" logs).</summary>
    public LabeledData? ValidationData { get; init; }

    /// <summary>The last fraction of the training data, held out for validation (before shuffling), when no ValidationData is given.</summary>
    public double ValidationSplit
    {
        get;
        init => field = value is >= 0 and < 1 ? value : throw new ArgumentOutOfRangeException(nameof(ValidationSplit), value, "ValidationSplit must be in [0, 1).");
    }

    /// <summary>Weight of each class in the loss (integer targets); classes not listed weigh 1.
    /// Weights are finite and at least 0; Fit checks the classes against the model's outputs.
    /// An empty dictionary is the same as none.</summary>
    public IReadOnlyDictionary<long, double>? ClassWeights
    {
        get;
        init => field = value is { Count: 0 } ? null : value is null || value.All(kv => kv.Key >= 0 && double.IsFinite(kv.Value) && kv.Value >= 0) ? value
            : throw new ArgumentOutOfRangeException(nameof(ClassWeights),
                $"ClassWeights need classes >= 0 and finite weights >= 0; got {string.Join(", ", value.Where(kv => kv.Key < 0 || !double.IsFinite(kv.Value) || kv.Value < 0).Select(kv => $"{kv.Key}: {kv.Value}"))}.");
    }

    /// <summary>Hooks called during training.</summary>
    public IReadOnlyList<Callback> Callbacks
    {
        get;
        init => field = value is not null && value.All(c => c is not null) ? value
            : throw new ArgumentNullException(nameof(Callbacks), "Callbacks must not be null or hold null.");
    } = [];

    /// <summary>How the steps are set up (intra-op threads): <see cref="TrainingPlan.Measured"/>
    /// measures on the first batch, <see cref="TrainingPlan.Pinned"/> fixes them; null (the
    /// default) leaves libtorch's setting as it is. The plan used is <see cref="Model.Plan"/>, and
    /// a line of the progress display.</summary>
    public TrainingPlan? Plan { get; init; }

    /// <summary>Data-parallel training over the ranks of an MPI job (see
    /// <see cref="Distributed.DataParallel"/>); null, or a job of one rank, trains in this process
    /// alone. In exact mode every rank is given the same data and <see cref="BatchSize"/> is the
    /// global batch, split over the ranks; in scalable mode each rank is given its own data and
    /// batches.</summary>
    public Distributed.DataParallel? Distribution { get; init; }

    /// <summary>Progress display.</summary>
    public Verbosity Verbosity { get; init; } = Verbosity.Auto;

    /// <summary>Add each epoch's step-time breakdown (input, forward, backward, optimizer, callbacks, other)
    /// to its progress line; it is always in <see cref="History.StepTimes"/>.</summary>
    public bool ShowStepTimes { get; init; }

    /// <summary>Where progress goes (standard output by default).</summary>
    public TextWriter? Output { get; init; }

    /// <summary>Also receives progress (a notebook display, a UI): during each epoch at most
    /// every 0.25 s and at its last step, and once when it ends, with its logs. Called on
    /// Fit's thread, whatever <see cref="Verbosity"/> says.</summary>
    public IProgress<TrainingProgress>? Progress { get; init; }
}
