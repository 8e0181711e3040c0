using Functional.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Training;

// The training driver: Fit, its epochs and its in-place step.
public sealed partial class Model
{
    /// <summary>Trains on in-memory tensors (see <see cref="FitOptions"/>). Cancelling
    /// <paramref name="cancellationToken"/> stops training at the next step boundary: the
    /// callbacks' end hooks run, the state is the last step's, and Fit throws
    /// <see cref="OperationCanceledException"/>.</summary>
    public History Fit(Tensor inputs, Tensor targets, FitOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new FitOptions();
        RequireExamples(inputs, targets, "Fit");
        var (trainX, trainY, validation) = (inputs, targets, options.ValidationData);
        if (validation is null && options.ValidationSplit > 0)
        {
            long held = (long)(inputs.shape[0] * options.ValidationSplit), kept = inputs.shape[0] - held;
            if (kept == 0 || held == 0)
                throw new ArgumentException(
                    $"Fit: ValidationSplit {options.ValidationSplit} of {inputs.shape[0]} examples leaves {kept} for training and {held} for validation; both need at least one.", nameof(options));
            (trainX, trainY) = (inputs.narrow(0, 0, kept), targets.narrow(0, 0, kept));
            validation = new LabeledData(inputs.narrow(0, kept, held), targets.narrow(0, kept, held));
        }
        var validationSource = validation is { } v ? new TensorBatches(v.Inputs, v.Targets, options.BatchSize) : null;
        return Fit(new TensorBatches(trainX, trainY, options.BatchSize, options.Shuffle, State.Seed), options, validationSource, cancellationToken);
    }

    /// <summary>
    /// Trains on batches from any source (see <see cref="FitOptions"/>; BatchSize and Shuffle
    /// are the source's; ValidationSplit needs in-memory tensors, ValidationData is used).
    /// Cancellation as for in-memory data; a source that blocks is asked for its next batch only
    /// while the token is not cancelled.
    /// </summary>
    public History Fit(IBatchSource train, FitOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new FitOptions();
        if (options.ValidationSplit > 0)
            throw new ArgumentException("ValidationSplit needs in-memory tensors; give a batch source ValidationData instead.", nameof(options));
        var validation = options.ValidationData is { } v ? new TensorBatches(v.Inputs, v.Targets, options.BatchSize) : null;
        return Fit(train, options, validation, cancellationToken);
    }

    History Fit(IBatchSource train, FitOptions options, IBatchSource? validation, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (options.Epochs <= options.InitialEpoch)
            throw new ArgumentOutOfRangeException(nameof(options), $"Fit needs InitialEpoch < Epochs; got {options.InitialEpoch} and {options.Epochs}.");
        if (options.ClassWeights is { } weights) RequireClasses(weights);
        using var fitting = BeginFit();
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
                var clock = new StepClock();
                if (TrainEpoch(train, options, epoch, context, display, clock, cancellation) is not { } logs) break;
                var times = clock.Result();
                if (validation is not null)
                    foreach (var (name, value) in Evaluate(validation, cancellation)) logs["val_" + name] = value;
                history.Add(logs, times);
                display.EpochEnd(epoch, logs, options.ShowStepTimes ? times : null);
                foreach (var c in options.Callbacks) c.OnEpochEnd(context, epoch, logs);
            }
        }
        catch
        {
            context.Interrupted = true;
            throw;
        }
        finally
        {
            // Callbacks release what they hold (files, best weights) even when training throws.
            foreach (var c in options.Callbacks) c.OnTrainEnd(context);
            context.ReleaseGradients();
        }
        history.StopReason = context.StopReason;
        if (context.StopReason is not null) display.Message($"Training stopped: {context.StopReason}.");
        return history;
    }

    /// <summary>One epoch of steps; its logs, or null when it was stopped before its first step.</summary>
    Dictionary<string, double>? TrainEpoch(IBatchSource train, FitOptions options, int epoch, TrainingContext context, ProgressDisplay display,
        StepClock clock, CancellationToken cancellation)
    {
        var (lossSum, count, done) = (0.0, 0L, 0L);
        var metricStates = Metrics.Select(m => m.Init()).ToArray();
        bool keepGradients = options.Callbacks.Any(c => c.NeedsGradients);
        using var batches = train.Batches(epoch).GetEnumerator();
        while (!cancellation.IsCancellationRequested && batches.MoveNext())
        {
            clock.InputArrived();
            var (x, y) = batches.Current;
            using (x)
            using (y)
            {
                double loss = Step(x, y, options.ClassWeights, metricStates, context, clock, keepGradients);
                if (context.StopReason is not null) break;
                // Weighted by the rows the loss counts, as Evaluate's val_loss is.
                long rows = CountedRows(y);
                (lossSum, count, done) = (lossSum + loss * rows, count + rows, done + 1);
                clock.BookkeepingDone();
                foreach (var c in options.Callbacks) c.OnBatchEnd(context, State.Step, loss);
                display.Step(epoch, done, () => Logs(lossSum / count, metricStates, "").Select(kv => (kv.Key, kv.Value)));
            }
            clock.CallbacksDone();
        }
        cancellation.ThrowIfCancellationRequested();
        if (done == 0 && context.StopReason is null)
        {
            // Nothing at all is an error; a source that runs out later ends training (as Keras does).
            if (epoch == options.InitialEpoch)
                throw new InvalidOperationException($"Fit: the training data gave no batch in epoch {epoch + 1}; there is nothing to train on.");
            context.StopTraining($"the training data ran out: epoch {epoch + 1} gave no batch");
        }
        return done == 0 ? null : Logs(count == 0 ? double.NaN : lossSum / count, metricStates, "");
    }

    /// <summary>
    /// One step of Fit: TrainStep with the old state donated. Fit owns the state and gives the
    /// old one away, so the optimizer overwrites its state and the gradients, and the
    /// parameters take the updates in place: no parameter-sized allocation survives the step.
    /// </summary>
    double Step(Tensor x, Tensor y, IReadOnlyDictionary<long, double>? classWeights, double[][] metricStates, TrainingContext context,
        StepClock clock, bool keepGradients)
    {
        using var scope = torch.NewDisposeScope();
        var weights = classWeights is null ? null : ClassWeightsFor(y, classWeights);
        var (lossTensor, predictions, modelState, gradient) = LossAndGradient(State, x, y, weights, clock.ForwardDone);
        double loss = lossTensor.dtype == ScalarType.Float32 ? lossTensor.item<float>() : lossTensor.to_type(ScalarType.Float64).item<double>();
        clock.BackwardDone();
        if (!double.IsFinite(loss))
        {
            // Nothing has changed yet: the step that produced the NaN is dropped.
            context.StopTraining($"the loss became {loss} at step {State.Step + 1}; the parameters are those before that step");
            return loss;
        }
        using (torch.no_grad())
        {
            if (keepGradients)
            {
                // The optimizer overwrites the gradients: callbacks that read them get a copy.
                var copy = gradient.Clone();
                scope.Detach(copy.Leaves);
                context.KeepGradients(copy);
            }
            // The step boundary: Predict on other threads waits here, so it never sees
            // parameters half updated or a model state already disposed.
            Writing(() =>
            {
                var next = Advance(State, modelState, gradient, donate: true);
                scope.MoveToOuter(next.ModelState.Leaves);
                State.DisposeExcept(next);
                State = next;
            });
        }
        clock.Updated();
        for (int i = 0; i < Metrics.Count; i++) metricStates[i] = Metrics[i].Update(metricStates[i], predictions, y);
        return loss;
    }

    /// <summary>The number of classes the network's output has: its last dimension, or two for a
    /// single output (binary classification with 0/1 targets).</summary>
    long Classes => OutputShape.Length == 0 || OutputShape[^1] == 1 ? 2 : OutputShape[^1];

    /// <summary>The rows of a batch the loss counts (all unless it ignores some labels).</summary>
    long CountedRows(Tensor targets)
    {
        using var scope = torch.NewDisposeScope();
        return Loss.CountedRows(targets) is { } counted ? counted.sum().item<long>() : targets.shape[0];
    }

    void RequireClasses(IReadOnlyDictionary<long, double> classWeights)
    {
        var outside = classWeights.Keys.Where(k => k >= Classes).ToArray();
        if (outside.Length > 0)
            throw new ArgumentOutOfRangeException(nameof(FitOptions.ClassWeights),
                $"Fit: ClassWeights name classes {string.Join(", ", outside)}, but model '{Network.Name}' has {Classes} (0 to {Classes - 1}).");
    }

    Tensor ClassWeightsFor(Tensor targets, IReadOnlyDictionary<long, double> classWeights)
    {
        // Binary outputs take 0/1 targets of shape (batch) or (batch, 1), floating or not.
        bool binary = Classes == 2 && OutputShape is [] or [1] && (targets.dim() == 1 || targets.dim() == 2 && targets.shape[1] == 1);
        if (binary) targets = (targets.is_floating_point() ? targets.reshape(-1).round() : targets.reshape(-1)).to_type(ScalarType.Int64);
        if (targets.is_floating_point() || targets.dim() != 1)
            throw new ArgumentException($"Class weights need integer class targets of shape (batch); got {targets.dtype} ({string.Join(", ", targets.shape)}).");
        var table = torch.ones(Classes);
        foreach (var (label, weight) in classWeights) table[label] = weight;
        // Rows the loss ignores (an ignore index) weigh nothing and need no class.
        var counted = Loss.CountedRows(targets);
        var classes = counted is null ? targets.to_type(ScalarType.Int64) : targets.to_type(ScalarType.Int64).where(counted, 0);
        long low = classes.min().item<long>(), high = classes.max().item<long>();
        if (low < 0 || high >= Classes)
            throw new ArgumentOutOfRangeException(nameof(targets), $"Fit: class targets must be in [0, {Classes}) to be weighted; got values from {low} to {high}.");
        var weights = table.index_select(0, classes);
        return counted is null ? weights : weights * counted;
    }

    /// <summary>Throws unless inputs and targets are tensors with the same positive number of examples.</summary>
    void RequireExamples(Tensor inputs, Tensor targets, string operation)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        ThrowIfDisposed();
        if (inputs.dim() == 0 || targets.dim() == 0 || inputs.shape[0] != targets.shape[0])
            throw new ShapeException(
                $"{operation}: inputs {ShapeException.Format(inputs.shape)} and targets {ShapeException.Format(targets.shape)} need one example per row: the same number of examples.");
        if (inputs.shape[0] == 0) throw new ArgumentException($"{operation}: there are no examples (0 rows); there is nothing to train on.", nameof(inputs));
    }

    Dictionary<string, double> Logs(double loss, double[][] metricStates, string prefix)
    {
        var logs = new Dictionary<string, double>(StringComparer.Ordinal) { [prefix + "loss"] = loss };
        for (int i = 0; i < Metrics.Count; i++) logs[prefix + Metrics[i].Name] = Metrics[i].Result(metricStates[i]);
        return logs;
    }
}
