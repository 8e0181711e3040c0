using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Losses;

/// <summary>
/// A named loss: per-example values (shape (batch)) and their mean. Custom losses are plain
/// functions: <c>new LossFunction("my_loss", (predictions, targets) =&gt; ...)</c>.
/// </summary>
public sealed class LossFunction
{
    readonly Func<Tensor, Tensor, Tensor>? perExample;
    readonly Func<Tensor, Tensor, Tensor, Tensor>? perExampleWithInputs;
    readonly Action<Tensor, Tensor>? check;
    readonly Func<Tensor, Tensor?>? countedRows;

    /// <summary>A loss from its per-example form (predictions, targets) -&gt; (batch).</summary>
    public LossFunction(string name, Func<Tensor, Tensor, Tensor> perExample) : this(name, perExample, null) { }

    /// <summary>
    /// A loss that also reads the batch's inputs, (inputs, predictions, targets) -&gt; (batch), as
    /// Keras 3's <c>compute_loss(x, y, y_pred)</c> override: a teacher's soft targets for
    /// distillation (<see cref="ModelOptimization.Distiller"/>), an input-dependent penalty. Models
    /// with one input train and evaluate with it; it cannot be called without the inputs.
    /// </summary>
    public LossFunction(string name, Func<Tensor, Tensor, Tensor, Tensor> perExampleWithInputs) : this(name, perExampleWithInputs, null) { }

    /// <summary>A loss that reads the inputs, leaving out of its mean the rows
    /// <paramref name="countedRows"/> says do not count (a wrapped loss's ignored labels).</summary>
    internal LossFunction(string name, Func<Tensor, Tensor, Tensor, Tensor> perExampleWithInputs, Func<Tensor, Tensor?>? countedRows)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        this.perExampleWithInputs = perExampleWithInputs ?? throw new ArgumentNullException(nameof(perExampleWithInputs));
        this.countedRows = countedRows;
    }

    internal LossFunction(string name, Func<Tensor, Tensor, Tensor> perExample, Action<Tensor, Tensor>? check,
        Func<Tensor, Tensor>? countedRows = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        this.perExample = perExample ?? throw new ArgumentNullException(nameof(perExample));
        this.check = check;
        this.countedRows = countedRows;
    }

    /// <summary>The loss's name, e.g. "mean_squared_error".</summary>
    public string Name { get; }

    /// <summary>What a built-in loss was made with (<c>{"type": ..., "from_logits": ...}</c>), so a
    /// saved model rebuilds it; null for losses of your own.</summary>
    public JsonObject? Description { get; init; }

    /// <summary>Whether the loss reads the batch's inputs too (see
    /// <see cref="PerExample(Tensor, Tensor, Tensor)"/>).</summary>
    public bool NeedsInputs => perExampleWithInputs is not null;

    /// <summary>The loss of each example: shape (batch).</summary>
    /// <exception cref="InvalidOperationException">The loss reads the inputs (<see cref="NeedsInputs"/>).</exception>
    public Tensor PerExample(Tensor predictions, Tensor targets) => PerExample(predictions, targets, null);

    /// <summary>The loss of each example given the batch's <paramref name="inputs"/> (which a loss
    /// that does not read them ignores): shape (batch).</summary>
    /// <exception cref="InvalidOperationException">The loss reads the inputs and none were given.</exception>
    public Tensor PerExample(Tensor predictions, Tensor targets, Tensor? inputs)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(targets);
        if (NeedsInputs && inputs is null)
            throw new InvalidOperationException($"{Name} reads the batch's inputs: call PerExample(predictions, targets, inputs) (a model with one input does).");
        if (predictions.dim() == 0)
            throw new ArgumentException($"{Name}: predictions must have a batch dimension; got a scalar.");
        if (predictions.shape[0] != targets.shape.FirstOrDefault(-1))
            throw new ArgumentException(
                $"{Name}: predictions have {predictions.shape[0]} examples (shape {Format(predictions)}) but targets have shape {Format(targets)}.");
        // Losses are computed in float32 for 16-bit predictions (mixed precision).
        predictions = Layers.PrecisionPolicy.InFloat32(predictions);
        // Floating targets follow the predictions' dtype (Keras casts y_true to y_pred's dtype).
        if (targets.is_floating_point() && predictions.is_floating_point() && targets.dtype != predictions.dtype)
            targets = targets.to_type(predictions.dtype);
        check?.Invoke(predictions, targets);
        var values = perExampleWithInputs is { } withInputs ? withInputs(inputs!, predictions, targets) : perExample!(predictions, targets);
        if (values.dim() == 0 || values.shape[0] != predictions.shape[0])
            throw new InvalidOperationException($"{Name} returned shape {Format(values)} for {predictions.shape[0]} examples; a loss returns one value per example (batch) or more per example (batch, ...).");
        return values.dim() == 1 ? values : values.reshape(predictions.shape[0], -1).mean([1]);
    }

    /// <summary>The mean loss over the batch (a scalar): rows the loss leaves out (see
    /// <see cref="CountedRows"/>) are not in the mean's denominator.</summary>
    public Tensor Invoke(Tensor predictions, Tensor targets) => Mean(PerExample(predictions, targets), targets);

    /// <summary>The mean loss over the batch, for a loss that reads the inputs.</summary>
    public Tensor Invoke(Tensor predictions, Tensor targets, Tensor inputs) => Mean(PerExample(predictions, targets, inputs), targets);

    /// <summary>A boolean (batch) mask of the rows that count, or null when all do (a sparse
    /// cross-entropy with an ignore index leaves rows out).</summary>
    public Tensor? CountedRows(Tensor targets) => countedRows?.Invoke(targets);

    /// <summary>The mean of per-example values (times <paramref name="weights"/> when given) over
    /// the rows that count.</summary>
    public Tensor Mean(Tensor perExample, Tensor targets, Tensor? weights = null)
    {
        ArgumentNullException.ThrowIfNull(perExample);
        var values = weights is null ? perExample : perExample * weights;
        if (CountedRows(targets) is not { } counted) return values.mean();
        return values.sum() / counted.sum().clamp_min(1).to_type(values.dtype);
    }

    /// <inheritdoc/>
    public override string ToString() => Name;

    internal static string Format(Tensor t) => "(" + string.Join(", ", t.shape) + ")";
}
