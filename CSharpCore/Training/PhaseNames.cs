namespace Functional.Training;

/// <summary>The names Fit gives the phases of a step; a custom loop may use them too (the
/// report reads "input" as input wait).</summary>
public static class PhaseNames
{
    /// <summary>Waiting for the next batch.</summary>
    public const string Input = "input";
    /// <summary>The model and the loss.</summary>
    public const string Forward = "forward";
    /// <summary>The gradients.</summary>
    public const string Backward = "backward";
    /// <summary>Data parallelism: the gradients' all-reduce between ranks.</summary>
    public const string Communication = "communication";
    /// <summary>The update.</summary>
    public const string Optimizer = "optimizer";
    /// <summary>Callbacks and progress.</summary>
    public const string Callbacks = "callbacks";
    /// <summary>Metrics and bookkeeping.</summary>
    public const string Other = "other";
}
