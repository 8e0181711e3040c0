using Functional.Trees;

namespace Functional.Optimizers;

/// <summary>
/// The usual optimizers, each a chain of <see cref="Transform"/>s, and
/// <see cref="ApplyUpdates"/>. Their first steps follow the published update rules exactly.
/// </summary>
public static class Optimizer
{
    /// <summary>Stochastic gradient descent, with optional (Nesterov) momentum.</summary>
    public static GradientTransformation Sgd(double learningRate, double momentum = 0, bool nesterov = false) =>
        Sgd(LearningRate(learningRate), momentum, nesterov) with
        {
            Description = new() { ["type"] = "sgd", ["learning_rate"] = learningRate, ["momentum"] = momentum, ["nesterov"] = nesterov },
        };

    /// <summary>SGD with a learning-rate schedule.</summary>
    public static GradientTransformation Sgd(Schedule learningRate, double momentum = 0, bool nesterov = false) =>
        Hyperparameter.Decay(momentum, nameof(momentum)) == 0 && nesterov
            ? throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "Nesterov momentum needs a momentum above 0.")
            : momentum == 0
            ? Transform.ScaleByLearningRate(learningRate)
            : Transform.Chain(Transform.Trace(momentum, nesterov), Transform.ScaleByLearningRate(learningRate));

    /// <summary>Adam (Kingma and Ba).</summary>
    public static GradientTransformation Adam(double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) =>
        Adam(LearningRate(learningRate), beta1, beta2, epsilon) with
        {
            Description = new() { ["type"] = "adam", ["learning_rate"] = learningRate, ["beta1"] = beta1, ["beta2"] = beta2, ["epsilon"] = epsilon },
        };

    /// <summary>Adam with a learning-rate schedule.</summary>
    /// <remarks>Fit's in-place step runs it as one fused libtorch kernel for all parameters
    /// (<see cref="FusedAdam"/>); the pure <see cref="GradientTransformation.Update"/> runs the chain.</remarks>
    public static GradientTransformation Adam(Schedule learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        var chain = Transform.Chain(Transform.ScaleByAdam(beta1, beta2, epsilon), Transform.ScaleByLearningRate(learningRate));
        return chain with { FusedStep = FusedAdam.Step(learningRate, beta1, beta2, epsilon, chain.UpdateInPlace) };
    }

    /// <summary>AdamW: Adam with decoupled weight decay (Loshchilov and Hutter).</summary>
    public static GradientTransformation AdamW(double learningRate = 1e-3, double weightDecay = 1e-2,
        double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, Func<string, bool>? decayMask = null) =>
        AdamW(LearningRate(learningRate), weightDecay, beta1, beta2, epsilon, decayMask) with
        {
            // A mask is code: only the unmasked form can be rebuilt from a description.
            Description = decayMask is not null ? null : new()
            {
                ["type"] = "adamw", ["learning_rate"] = learningRate, ["weight_decay"] = weightDecay,
                ["beta1"] = beta1, ["beta2"] = beta2, ["epsilon"] = epsilon,
            },
        };

    /// <summary>AdamW with a learning-rate schedule.</summary>
    public static GradientTransformation AdamW(Schedule learningRate, double weightDecay = 1e-2,
        double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, Func<string, bool>? decayMask = null) =>
        Transform.Chain(Transform.ScaleByAdam(beta1, beta2, epsilon), Transform.AddDecayedWeights(weightDecay, decayMask),
            Transform.ScaleByLearningRate(learningRate));

    /// <summary>RMSProp.</summary>
    public static GradientTransformation RmsProp(double learningRate = 1e-3, double decay = 0.9, double epsilon = 1e-7) =>
        Transform.Chain(Transform.ScaleByRms(decay, epsilon), Transform.ScaleByLearningRate(LearningRate(learningRate))) with
        {
            Description = new() { ["type"] = "rmsprop", ["learning_rate"] = learningRate, ["decay"] = decay, ["epsilon"] = epsilon },
        };

    /// <summary>Adagrad.</summary>
    public static GradientTransformation Adagrad(double learningRate = 1e-2, double initialAccumulator = 0.1, double epsilon = 1e-7) =>
        Transform.Chain(Transform.ScaleByRss(initialAccumulator, epsilon), Transform.ScaleByLearningRate(LearningRate(learningRate))) with
        {
            Description = new()
            {
                ["type"] = "adagrad", ["learning_rate"] = learningRate, ["initial_accumulator"] = initialAccumulator, ["epsilon"] = epsilon,
            },
        };

    /// <summary>A constant learning rate, checked (finite, at least 0).</summary>
    static Schedule LearningRate(double learningRate) => Schedules.Constant(Hyperparameter.NonNegative(learningRate, nameof(learningRate)));

    /// <summary>parameters + updates, leaf by leaf.</summary>
    public static TensorTree ApplyUpdates(TensorTree parameters, TensorTree updates) => parameters.Zip(updates, (p, u) => p + u);
}
