using Functional.Autodiff;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>
/// A network with its loss, optimizer and metrics, and the state training changes (Keras's
/// compiled model). <see cref="TrainStep"/> is the pure step; <see cref="Fit(Tensor, Tensor, FitOptions?, CancellationToken)"/>,
/// <see cref="Evaluate(Tensor, Tensor, int, CancellationToken)"/> and <see cref="Predict"/> drive it. A hand-written
/// loop is TrainStep called in a loop.
/// </summary>
/// <remarks>The model owns <see cref="State"/>: Fit replaces it every step and disposes the old
/// one. Take <c>State.Params.Clone()</c> to keep a copy.</remarks>
public sealed partial class Model : IDisposable
{
    /// <summary>Training allocates and frees large buffers every step: tune the allocator once
    /// (see <see cref="Runtime.NativeAllocator"/>; opt out with FUNCTIONAL_NO_MALLOPT).</summary>
    static Model() => Runtime.NativeAllocator.Tune();

    /// <summary>Compiles <paramref name="network"/> for inputs of per-example shape
    /// <paramref name="inputShape"/> and initialises its state from <paramref name="seed"/>.</summary>
    public Model(ILayer network, long[] inputShape, LossFunction loss, GradientTransformation optimizer,
        IEnumerable<Metric>? metrics = null, ulong seed = 0)
    {
        Network = network ?? throw new ArgumentNullException(nameof(network));
        ShapeException.RequireValid(inputShape, $"Model '{network.Name}'");
        InputShape = inputShape;
        Loss = loss ?? throw new ArgumentNullException(nameof(loss));
        BaseOptimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        Optimizer = optimizer;
        Metrics = metrics?.ToArray() ?? [];
        OutputShape = network.OutputShape(inputShape);
        using var rng = TrainState.GeneratorFor(seed, -1);
        var variables = network.Init(rng, inputShape);
        State = new TrainState(variables.Params, variables.State, optimizer.Init(variables.Params), 0, seed);
    }

    /// <summary>The network.</summary>
    public ILayer Network { get; }
    /// <summary>Per-example input shape.</summary>
    public long[] InputShape { get; }
    /// <summary>Per-example output shape.</summary>
    public long[] OutputShape { get; }
    /// <summary>The training loss.</summary>
    public LossFunction Loss { get; }
    /// <summary>The optimizer as training runs it: the one given, with frozen parameters held
    /// still (see <see cref="Freeze"/>).</summary>
    public GradientTransformation Optimizer { get; private set; }
    /// <summary>The names of the classes the outputs score, in output order (Keras's
    /// <c>class_names</c> of a dataset); saved with the model. One output unit (a binary
    /// classifier) takes two names: the negative class, then the positive one.</summary>
    /// <exception cref="ArgumentException">A count that does not match the outputs, an empty or repeated name.</exception>
    public IReadOnlyList<string>? ClassNames
    {
        get => classNames;
        set
        {
            if (value is not null)
            {
                if (value.Count != Classes)
                    throw new ArgumentException(
                        $"Model '{Network.Name}' outputs {ShapeException.FormatBatch(OutputShape)} per example, so it takes {Classes} class names, not {value.Count}.", nameof(value));
                if (value.Any(string.IsNullOrEmpty) || value.Distinct(StringComparer.Ordinal).Count() != value.Count)
                    throw new ArgumentException("Class names must be non-empty and distinct.", nameof(value));
            }
            classNames = value?.ToArray();
        }
    }

    IReadOnlyList<string>? classNames;

    /// <summary>Metrics logged by Fit and Evaluate.</summary>
    public IReadOnlyList<Metric> Metrics { get; }
    /// <summary>The current training state (owned by the model).</summary>
    public TrainState State { get; private set; }

    /// <summary>Keras's summary table: a row per layer call of the network (nested models
    /// expanded), output shapes, parameter counts and totals (frozen parameters count as
    /// non-trainable).</summary>
    public string Summary() => Reading(() => SummaryTable.Of(Network, [InputShape], new Variables(State.Params, State.ModelState), IsFrozen));

    /// <summary>
    /// One training step: the next state, the batch's loss and the (detached) predictions. By
    /// default a pure function: nothing of <paramref name="state"/> is modified or disposed.
    /// With <paramref name="donate"/> the caller gives <paramref name="state"/> away (as Fit
    /// does every step): the optimizer updates its parameters and optimizer state in place
    /// (fused kernels included) and the returned state holds those same tensors; dispose the rest
    /// of the old state with <c>old.DisposeExcept(next)</c> and do not use it again.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="donate"/> with the model's own
    /// <see cref="State"/> (the model owns it: train it with Fit, or donate a copy).</exception>
    public (TrainState State, Tensor Loss, Tensor Predictions) TrainStep(TrainState state, Tensor inputs, Tensor targets,
        Tensor? exampleWeights = null, bool donate = false)
    {
        ArgumentNullException.ThrowIfNull(state);
        ThrowIfDisposed();
        if (donate && SharesTensorsWithModel(state))
            throw new ArgumentException(
                $"Model '{Network.Name}' owns its State and the tensors in it: train it with Fit, or donate a copy (State.Copy()).", nameof(state));
        var (loss, predictions, modelState, gradient) = LossAndGradient(state, inputs, targets, exampleWeights);
        return (Advance(state, modelState, gradient, donate), loss, predictions);
    }

    bool SharesTensorsWithModel(TrainState state)
    {
        var own = new HashSet<IntPtr>(State.Tensors.Select(t => t.Handle));
        return state.Tensors.Any(t => own.Contains(t.Handle));
    }

    /// <summary>The update half of every step (TrainStep's and Fit's): the optimizer on the
    /// gradients, in place when the old state is donated, else on copies. The gradients are
    /// used up (freed).</summary>
    TrainState Advance(TrainState state, TensorTree modelState, TensorTree gradient, bool donate)
    {
        using (gradient)
        {
            if (donate)
            {
                Optimizer.StepInPlace(gradient, state.OptState, state.Params);
                return state with { ModelState = modelState, Step = state.Step + 1 };
            }
            var (updates, optState) = Optimizer.Update(gradient, state.OptState, state.Params);
            var parameters = Optimizers.Optimizer.ApplyUpdates(state.Params, updates);
            var next = new TrainState(parameters, modelState, optState, state.Step + 1, state.Seed);
            // Updates are temporaries, unless a transformation handed out a tensor the states keep.
            var kept = new HashSet<Tensor>(next.Tensors.Concat(state.Tensors), ReferenceEqualityComparer.Instance);
            foreach (var u in updates.Leaves)
                if (!kept.Contains(u)) u.Dispose();
            return next;
        }
    }

    /// <summary>The forward and backward half of a step: loss, detached predictions, new model state,
    /// gradients. <paramref name="forwardDone"/> is called between the two passes (for timing).</summary>
    (Tensor Loss, Tensor Predictions, TensorTree ModelState, TensorTree Gradient) LossAndGradient(
        TrainState state, Tensor inputs, Tensor targets, Tensor? exampleWeights, Action? forwardDone = null)
    {
        CheckInputs(inputs);
        var context = ApplyContext.Train(RandomKey.ForStep(state.Seed, state.Step));
        (Tensor, (Tensor, TensorTree)) LossOf(TensorTree parameters)
        {
            var (predictions, modelState) = Network.Apply(new Variables(parameters, state.ModelState), inputs, context);
            var loss = Loss.Mean(Loss.PerExample(predictions, targets), targets, exampleWeights);
            forwardDone?.Invoke();
            return (loss, (predictions.detach(), modelState.Detach()));
        }
        var (loss, (predictions, modelState), gradient) = Transforms.ValueAndGrad<(Tensor, TensorTree)>(LossOf)(state.Params);
        return (loss, predictions, modelState, gradient);
    }

    void CheckInputs(Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ThrowIfDisposed();
        if (inputs.dim() != InputShape.Length + 1 || !inputs.shape[1..].SequenceEqual(InputShape))
            throw new ShapeException(
                $"Model '{Network.Name}' expects inputs of shape {ShapeException.FormatBatch(InputShape)}, but received {ShapeException.Format(inputs.shape)}.");
    }

    /// <summary>Replaces the parameters and model state (e.g. with the best epoch's); the old ones are disposed.</summary>
    public void RestoreVariables(TensorTree parameters, TensorTree modelState)
    {
        Writing(() =>
        {
            RequireNotFittingElsewhere("RestoreVariables");
            State.Params.RequireSameStructure(parameters, nameof(parameters));
            State.ModelState.RequireSameStructure(modelState, nameof(modelState));
            var next = State with { Params = parameters, ModelState = modelState };
            State.DisposeExcept(next);
            State = next;
        });
    }

    /// <summary>Replaces the whole training state (e.g. one resumed from a checkpoint); the old one is disposed.</summary>
    public void Resume(TrainState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        Writing(() =>
        {
            RequireNotFittingElsewhere("Resume");
            State.Params.RequireSameStructure(state.Params, "parameters");
            State.ModelState.RequireSameStructure(state.ModelState, "model state");
            State.OptState.RequireSameStructure(state.OptState, "optimizer state");
            State.DisposeExcept(state);
            State = state;
        });
    }

}
