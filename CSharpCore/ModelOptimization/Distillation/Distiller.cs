using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.ModelOptimization;

/// <summary>
/// Knowledge distillation (Hinton et al., Keras's <c>Distiller</c>): a student learns from the
/// labels and from a frozen teacher's softened outputs. Per example the loss is
/// <c>alpha * studentLoss(y, s) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))</c>, with
/// t and s the teacher's and the student's logits and T the temperature (T^2 keeps the soft
/// term's gradients at the hard term's scale). The student is an ordinary model: it trains with
/// Fit, callbacks and streams, evaluates, saves and exports as any other; the teacher (any model
/// with the same input and output shapes, one loaded from a saved folder too) only predicts.
/// </summary>
/// <remarks>
/// <code>
/// using var teacher = ModelFile.LoadModel("saved/teacher");
/// var distiller = new Distiller(teacher, temperature: 10, alpha: 0.1);
/// using var student = distiller.Student(new Sequential(new Dense(32, ActivationFunction.Relu), new Dense(10)), [784],
///     Loss.SparseCategoricalCrossEntropy(fromLogits: true), Optimizer.Adam(1e-3), [new SparseCategoricalAccuracy()]);
/// student.Fit(x, y, new FitOptions { Epochs = 5 });
/// </code>
/// Both models output logits: the temperature softens logits, not probabilities.
/// </remarks>
public sealed class Distiller
{
    /// <summary>A distiller from <paramref name="teacher"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A temperature that is not positive and
    /// finite, or an alpha outside [0, 1].</exception>
    public Distiller(Model teacher, double temperature = 10, double alpha = 0.1)
    {
        Teacher = teacher ?? throw new ArgumentNullException(nameof(teacher));
        Temperature = temperature > 0 && double.IsFinite(temperature) ? temperature
            : throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "The temperature must be positive and finite.");
        Alpha = alpha is >= 0 and <= 1 ? alpha : throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "Alpha (the hard loss's weight) must be in [0, 1].");
    }

    /// <summary>The frozen model whose outputs the student learns from (it is never trained here).</summary>
    public Model Teacher { get; }
    /// <summary>The softening temperature T.</summary>
    public double Temperature { get; }
    /// <summary>The weight of the student's own loss; the soft term has 1 - alpha.</summary>
    public double Alpha { get; }

    /// <summary>The distillation loss around <paramref name="studentLoss"/> (the loss on the
    /// labels), named "distillation": it runs the teacher on each batch's inputs.</summary>
    public LossFunction Loss(LossFunction studentLoss)
    {
        ArgumentNullException.ThrowIfNull(studentLoss);
        if (studentLoss.NeedsInputs) throw new ArgumentException("The student's loss must be a plain (predictions, targets) loss.", nameof(studentLoss));
        return new LossFunction("distillation", (inputs, predictions, targets) =>
        {
            var hard = studentLoss.PerExample(predictions, targets);
            using var teacherLogits = Teacher.Predict(inputs, (int)Math.Min(int.MaxValue, inputs.shape[0]));
            if (!teacherLogits.shape.SequenceEqual(predictions.shape))
                throw new ShapeException(
                    $"Distiller: the teacher '{Teacher.Network.Name}' predicts shape ({string.Join(", ", teacherLogits.shape)}) where the student predicts ({string.Join(", ", predictions.shape)}).");
            var soft = SoftTargetLoss(predictions, teacherLogits, Temperature);
            return Alpha == 1 ? hard : Alpha == 0 ? soft : hard * Alpha + soft * (1 - Alpha);
        }, studentLoss.CountedRows);   // rows the student's loss ignores count in neither term
    }

    /// <summary>A student model: <paramref name="network"/> trained with <see cref="Loss"/>
    /// around <paramref name="studentLoss"/>; metrics see the student's outputs and the labels.</summary>
    /// <exception cref="ShapeException">The student's input or output shape is not the teacher's.</exception>
    public Model Student(ILayer network, long[] inputShape, LossFunction studentLoss, GradientTransformation optimizer,
        IEnumerable<Metric>? metrics = null, ulong seed = 0, PrecisionPolicy? precision = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (!Teacher.InputShape.SequenceEqual(inputShape))
            throw new ShapeException($"Distiller: the student takes inputs ({string.Join(", ", inputShape)}) but the teacher takes ({string.Join(", ", Teacher.InputShape)}).");
        var output = network.OutputShape(inputShape);
        if (!Teacher.OutputShape.SequenceEqual(output))
            throw new ShapeException($"Distiller: the student '{network.Name}' outputs ({string.Join(", ", output)}) per example but the teacher outputs ({string.Join(", ", Teacher.OutputShape)}).");
        return new Model(network, inputShape, Loss(studentLoss), optimizer, metrics, seed, precision);
    }

    /// <summary><c>T^2 * KL(softmax(teacher / T) || softmax(student / T))</c> per example (over
    /// the last axis; in float32): the soft term of the loss, differentiable in the student's logits.</summary>
    public static Tensor SoftTargetLoss(Tensor studentLogits, Tensor teacherLogits, double temperature)
    {
        ArgumentNullException.ThrowIfNull(studentLogits);
        ArgumentNullException.ThrowIfNull(teacherLogits);
        if (!studentLogits.shape.SequenceEqual(teacherLogits.shape) || studentLogits.dim() < 2)
            throw new ShapeException(
                $"Distiller: the student's logits ({string.Join(", ", studentLogits.shape)}) and the teacher's ({string.Join(", ", teacherLogits.shape)}) must have one shape, (batch, ..., classes).");
        if (!(temperature > 0) || !double.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "The temperature must be positive and finite.");
        using var scope = NewDisposeScope();
        var student = PrecisionPolicy.InFloat32(studentLogits);
        var teacherLog = (PrecisionPolicy.InFloat32(teacherLogits).detach() / temperature).log_softmax(-1);
        var studentLog = (student / temperature).log_softmax(-1);
        var kl = (teacherLog.exp() * (teacherLog - studentLog)).sum(-1);
        var perExample = kl.dim() == 1 ? kl : kl.reshape(kl.shape[0], -1).mean([1]);
        return (perExample * (temperature * temperature)).MoveToOuterDisposeScope();
    }
}
