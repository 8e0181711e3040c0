using Functional.Autodiff;
using Functional.Layers;
using Functional.Losses;
using Functional.Metrics;
using Functional.Optimizers;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>
/// A network with its loss, optimizer and metrics, and the state training changes (Keras's
/// compiled model). <see cref="TrainStep"/> is the pure step; <see cref="Fit(Tensor, Tensor, FitOptions?)"/>,
/// <see cref="Evaluate(Tensor, Tensor, int)"/> and <see cref="Predict"/> drive it. A hand-written
/// loop is TrainStep called in a loop.
/// </summary>
/// <remarks>The model owns <see cref="State"/>: Fit replaces it every step and disposes the old
/// one. Take <c>State.Params.Clone()</c> to keep a copy.</remarks>
public sealed class Model : IDisposable
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
        InputShape = inputShape ?? throw new ArgumentNullException(nameof(inputShape));
        Loss = loss ?? throw new ArgumentNullException(nameof(loss));
        Optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
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
    /// <summary>The optimizer.</summary>
    public GradientTransformation Optimizer { get; }
    /// <summary>Metrics logged by Fit and Evaluate.</summary>
    public IReadOnlyList<Metric> Metrics { get; }
    /// <summary>The current training state (owned by the model).</summary>
    public TrainState State { get; private set; }

    /// <summary>Keras's summary table (for Sequential and functional networks), else one line.</summary>
    public string Summary() => Network switch
    {
        Sequential s => s.Summary(InputShape),
        FunctionalModel f => f.Summary(),
        _ => $"Model: {Network.Name}, input {ShapeException.FormatBatch(InputShape)}, output {ShapeException.FormatBatch(OutputShape)}, {State.Params.ScalarCount:N0} parameters",
    };

    /// <summary>
    /// One training step, as a pure function: the next state, the batch's loss and the
    /// (detached) predictions. Nothing of <paramref name="state"/> is modified or disposed.
    /// </summary>
    public (TrainState State, Tensor Loss, Tensor Predictions) TrainStep(TrainState state, Tensor inputs, Tensor targets, Tensor? exampleWeights = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var (loss, predictions, modelState, gradient) = LossAndGradient(state, inputs, targets, exampleWeights);
        var (updates, optState) = Optimizer.Update(gradient, state.OptState, state.Params);
        var parameters = Optimizers.Optimizer.ApplyUpdates(state.Params, updates);
        return (new TrainState(parameters, modelState, optState, state.Step + 1, state.Seed), loss, predictions);
    }

    /// <summary>The forward and backward half of a step: loss, detached predictions, new model state, gradients.</summary>
    (Tensor Loss, Tensor Predictions, TensorTree ModelState, TensorTree Gradient) LossAndGradient(
        TrainState state, Tensor inputs, Tensor targets, Tensor? exampleWeights)
    {
        CheckInputs(inputs);
        using var rng = TrainState.GeneratorFor(state.Seed, state.Step);
        var context = ApplyContext.Train(rng);
        (Tensor, (Tensor, TensorTree)) LossOf(TensorTree parameters)
        {
            var (predictions, modelState) = Network.Apply(new Variables(parameters, state.ModelState), inputs, context);
            var perExample = Loss.PerExample(predictions, targets);
            var loss = exampleWeights is null ? perExample.mean() : (perExample * exampleWeights).mean();
            return (loss, (predictions.detach(), modelState.Detach()));
        }
        var (loss, (predictions, modelState), gradient) = Transforms.ValueAndGrad<(Tensor, TensorTree)>(LossOf)(state.Params);
        return (loss, predictions, modelState, gradient);
    }

    void CheckInputs(Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.dim() != InputShape.Length + 1 || !inputs.shape[1..].SequenceEqual(InputShape))
            throw new ShapeException(
                $"Model '{Network.Name}' expects inputs of shape {ShapeException.FormatBatch(InputShape)}, but received {ShapeException.Format(inputs.shape)}.");
    }

    /// <summary>Trains on in-memory tensors (see <see cref="FitOptions"/>).</summary>
    public History Fit(Tensor inputs, Tensor targets, FitOptions? options = null)
    {
        options ??= new FitOptions();
        var (trainX, trainY, validation) = (inputs, targets, options.ValidationData);
        if (validation is null && options.ValidationSplit > 0)
        {
            if (options.ValidationSplit >= 1) throw new ArgumentOutOfRangeException(nameof(options), "ValidationSplit must be in [0, 1).");
            long held = (long)(inputs.shape[0] * options.ValidationSplit), kept = inputs.shape[0] - held;
            (trainX, trainY) = (inputs.narrow(0, 0, kept), targets.narrow(0, 0, kept));
            validation = new LabeledData(inputs.narrow(0, kept, held), targets.narrow(0, kept, held));
        }
        var validationSource = validation is { } v ? new TensorBatches(v.Inputs, v.Targets, options.BatchSize) : null;
        return Fit(new TensorBatches(trainX, trainY, options.BatchSize, options.Shuffle, State.Seed), options, validationSource);
    }

    /// <summary>Trains on batches from any source (see <see cref="FitOptions"/>; BatchSize and Shuffle are the source's).</summary>
    public History Fit(IBatchSource train, FitOptions? options = null) => Fit(train, options ?? new FitOptions(), null);

    History Fit(IBatchSource train, FitOptions options, IBatchSource? validation)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (options.Epochs <= options.InitialEpoch || options.InitialEpoch < 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"Fit needs 0 <= InitialEpoch < Epochs; got {options.InitialEpoch} and {options.Epochs}.");
        var history = new History();
        var context = new TrainingContext(this, history);
        var display = new ProgressDisplay(options, options.Epochs);
        long stepsPerEpoch = train is TensorBatches b ? (train.Count + b.BatchSize - 1) / b.BatchSize : 0;
        foreach (var c in options.Callbacks) c.OnTrainBegin(context);
        try
        {
            for (int epoch = options.InitialEpoch; epoch < options.Epochs && context.StopReason is null; epoch++)
            {
                foreach (var c in options.Callbacks) c.OnEpochBegin(context, epoch);
                display.EpochBegin(epoch, stepsPerEpoch);
                if (TrainEpoch(train, options, epoch, context, display) is not { } logs) break;
                if (validation is not null)
                    foreach (var (name, value) in Evaluate(validation)) logs["val_" + name] = value;
                history.Add(logs);
                display.EpochEnd(epoch, logs);
                foreach (var c in options.Callbacks) c.OnEpochEnd(context, epoch, logs);
            }
        }
        finally
        {
            // Callbacks release what they hold (files, best weights) even when training throws.
            foreach (var c in options.Callbacks) c.OnTrainEnd(context);
        }
        history.StopReason = context.StopReason;
        if (context.StopReason is not null) display.Message($"Training stopped: {context.StopReason}.");
        return history;
    }

    /// <summary>One epoch of steps; its logs, or null when it was stopped before its first step.</summary>
    Dictionary<string, double>? TrainEpoch(IBatchSource train, FitOptions options, int epoch, TrainingContext context, ProgressDisplay display)
    {
        var (lossSum, count, done) = (0.0, 0L, 0L);
        var metricStates = Metrics.Select(m => m.Init()).ToArray();
        foreach (var (x, y) in train.Batches(epoch))
        {
            using (x)
            using (y)
            {
                double loss = Step(x, y, options.ClassWeights, metricStates, context);
                if (context.StopReason is not null) break;
                (lossSum, count, done) = (lossSum + loss * x.shape[0], count + x.shape[0], done + 1);
                foreach (var c in options.Callbacks) c.OnBatchEnd(context, State.Step, loss);
                display.Step(epoch, done, () => Logs(lossSum / count, metricStates, "").Select(kv => (kv.Key, kv.Value)));
            }
        }
        return done == 0 ? null : Logs(lossSum / count, metricStates, "");
    }

    /// <summary>
    /// One step of Fit: TrainStep's result, computed in place. Fit owns the state and gives the
    /// old one away, so the optimizer overwrites its state and the gradients, and the
    /// parameters take the updates in place: no parameter-sized allocation survives the step.
    /// </summary>
    double Step(Tensor x, Tensor y, IReadOnlyDictionary<long, double>? classWeights, double[][] metricStates, TrainingContext context)
    {
        using var scope = torch.NewDisposeScope();
        var weights = classWeights is null ? null : ClassWeightsFor(y, classWeights);
        var (lossTensor, predictions, modelState, gradient) = LossAndGradient(State, x, y, weights);
        double loss = lossTensor.item<float>();
        if (!double.IsFinite(loss))
        {
            // Nothing has changed yet: the step that produced the NaN is dropped.
            context.StopTraining($"the loss became {loss} at step {State.Step + 1}; the parameters are those before that step");
            return loss;
        }
        using (torch.no_grad())
        {
            var updates = Optimizer.UpdateInPlace(gradient, State.OptState, State.Params);
            for (int i = 0; i < updates.Count; i++) State.Params.Leaves[i].add_(updates.Leaves[i]);
        }
        for (int i = 0; i < Metrics.Count; i++) metricStates[i] = Metrics[i].Update(metricStates[i], predictions, y);
        var next = State with { ModelState = modelState, Step = State.Step + 1 };
        scope.MoveToOuter(next.ModelState.Leaves);
        State.DisposeExcept(next);
        State = next;
        return loss;
    }

    static Tensor ClassWeightsFor(Tensor targets, IReadOnlyDictionary<long, double> classWeights)
    {
        if (targets.is_floating_point() || targets.dim() != 1)
            throw new ArgumentException($"Class weights need integer class targets of shape (batch); got {targets.dtype} ({string.Join(", ", targets.shape)}).");
        long classes = Math.Max(classWeights.Keys.DefaultIfEmpty(0).Max() + 1, targets.max().item<long>() + 1);
        var table = torch.ones(classes);
        foreach (var (label, weight) in classWeights) table[label] = weight;
        return table.index_select(0, targets);
    }

    Dictionary<string, double> Logs(double loss, double[][] metricStates, string prefix)
    {
        var logs = new Dictionary<string, double>(StringComparer.Ordinal) { [prefix + "loss"] = loss };
        for (int i = 0; i < Metrics.Count; i++) logs[prefix + Metrics[i].Name] = Metrics[i].Result(metricStates[i]);
        return logs;
    }

    /// <summary>Loss and metrics over in-memory data, in inference mode.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(Tensor inputs, Tensor targets, int batchSize = 256) =>
        Evaluate(new TensorBatches(inputs, targets, batchSize));

    /// <summary>Loss and metrics over a batch source, in inference mode.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(IBatchSource data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var (lossSum, count) = (0.0, 0L);
        var metricStates = Metrics.Select(m => m.Init()).ToArray();
        foreach (var (x, y) in data.Batches(0))
        {
            using (x)
            using (y)
            using (var scope = torch.NewDisposeScope())
            using (torch.no_grad())
            {
                CheckInputs(x);
                var (predictions, _) = Network.Apply(new Variables(State.Params, State.ModelState), x, ApplyContext.Inference);
                lossSum += Loss.PerExample(predictions, y).to_type(ScalarType.Float64).sum().item<double>();
                count += x.shape[0];
                for (int i = 0; i < Metrics.Count; i++) metricStates[i] = Metrics[i].Update(metricStates[i], predictions, y);
            }
        }
        return Logs(count == 0 ? double.NaN : lossSum / count, metricStates, "");
    }

    /// <summary>The network's outputs for <paramref name="inputs"/>, in inference mode, batch by batch.</summary>
    public Tensor Predict(Tensor inputs, int batchSize = 256)
    {
        CheckInputs(inputs);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var outputs = new List<Tensor>();
        for (long start = 0; start < inputs.shape[0]; start += batchSize)
        {
            var x = inputs.narrow(0, start, Math.Min(batchSize, inputs.shape[0] - start));
            outputs.Add(Network.Apply(new Variables(State.Params, State.ModelState), x, ApplyContext.Inference).Output);
        }
        var result = outputs.Count == 0 ? torch.empty([0, .. OutputShape]) : torch.cat(outputs);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Replaces the parameters and model state (e.g. with the best epoch's); the old ones are disposed.</summary>
    public void RestoreVariables(TensorTree parameters, TensorTree modelState)
    {
        State.Params.RequireSamePaths(parameters, nameof(parameters));
        var next = State with { Params = parameters, ModelState = modelState };
        State.DisposeExcept(next);
        State = next;
    }

    /// <summary>Replaces the whole training state (e.g. one resumed from a checkpoint); the old one is disposed.</summary>
    public void Resume(TrainState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        State.Params.RequireSameStructure(state.Params, "parameters");
        State.ModelState.RequireSameStructure(state.ModelState, "model state");
        State.OptState.RequireSameStructure(state.OptState, "optimizer state");
        State.DisposeExcept(state);
        State = state;
    }

    /// <summary>Disposes the state.</summary>
    public void Dispose() => State.DisposeExcept(new TrainState(TensorTree.Empty, TensorTree.Empty, TensorTree.Empty, 0, 0));
}
