using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Losses;

/// <summary>
/// A named loss: per-example values (shape (batch)) and their mean. Custom losses are plain
/// functions: <c>new LossFunction("my_loss", (predictions, targets) =&gt; ...)</c>.
/// </summary>
public sealed class LossFunction
{
    readonly Func<Tensor, Tensor, Tensor> perExample;
    readonly Action<Tensor, Tensor>? check;

    /// <summary>A loss from its per-example form (predictions, targets) -&gt; (batch).</summary>
    public LossFunction(string name, Func<Tensor, Tensor, Tensor> perExample) : this(name, perExample, null) { }

    internal LossFunction(string name, Func<Tensor, Tensor, Tensor> perExample, Action<Tensor, Tensor>? check)
    {
        Name = name;
        this.perExample = perExample;
        this.check = check;
    }

    /// <summary>The loss's name, e.g. "mean_squared_error".</summary>
    public string Name { get; }

    /// <summary>The loss of each example: shape (batch).</summary>
    public Tensor PerExample(Tensor predictions, Tensor targets)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(targets);
        if (predictions.dim() == 0)
            throw new ArgumentException($"{Name}: predictions must have a batch dimension; got a scalar.");
        if (predictions.shape[0] != targets.shape.FirstOrDefault(-1))
            throw new ArgumentException(
                $"{Name}: predictions have {predictions.shape[0]} examples (shape {Format(predictions)}) but targets have shape {Format(targets)}.");
        check?.Invoke(predictions, targets);
        var values = perExample(predictions, targets);
        return values.dim() == 1 ? values : values.reshape(predictions.shape[0], -1).mean([1]);
    }

    /// <summary>The mean loss over the batch (a scalar).</summary>
    public Tensor Invoke(Tensor predictions, Tensor targets) => PerExample(predictions, targets).mean();

    /// <inheritdoc/>
    public override string ToString() => Name;

    internal static string Format(Tensor t) => "(" + string.Join(", ", t.shape) + ")";
}
