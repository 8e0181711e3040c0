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
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        return Fit(new LabeledData(inputs, targets), options, cancellationToken);
    }

    /// <summary>Trains on in-memory data: trees of named inputs and targets for a model with
    /// named outputs, and per-example weights when <see cref="LabeledData.SampleWeights"/> is
    /// given (split, shuffled and batched with the rows). Otherwise as
    /// <see cref="Fit(Tensor, Tensor, FitOptions?, CancellationToken)"/>.</summary>
    public History Fit(LabeledData data, FitOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new FitOptions();
        long rows = RequireExamples(data, "Fit");
        var (train, validation) = (data, options.ValidationData);
        if (validation is null && options.ValidationSplit > 0)
        {
            long held = (long)(rows * options.ValidationSplit), kept = rows - held;
            if (kept == 0 || held == 0)
                throw new ArgumentException(
                    $"Fit: ValidationSplit {options.ValidationSplit} of {rows} examples leaves {kept} for training and {held} for validation; both need at least one.", nameof(options));
            (train, validation) = (data.Narrow(0, kept), data.Narrow(kept, held));
        }
        var validationSource = validation is { } v ? new TensorBatches(v, options.BatchSize) : null;
        StartFromRootState(options);   // the shuffle's seed included
        return Fit(new TensorBatches(train, options.BatchSize, options.Shuffle, State.Seed), options, validationSource, cancellationToken);
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
        var validation = options.ValidationData is { } v ? new TensorBatches(v, options.BatchSize) : null;
        StartFromRootState(options);
        return Fit(train, options, validation, cancellationToken);
    }

    History Fit(IBatchSource train, FitOptions options, IBatchSource? validation, CancellationToken cancellation)
    {
        using var parallel = options.Distribution is { IsDistributed: true } distribution ? new ParallelFit(distribution) : null;
        try
        {
            return Fit(train, options, validation, parallel, cancellation);
        }
        catch (Exception e) when (parallel is not null && e is not OperationCanceledException)
        {
            // The other ranks may be waiting in a collective this rank will never call.
            parallel.AbortJob(e);
            throw;
        }
    }

    History Fit(IBatchSource train, FitOptions options, IBatchSource? validation, ParallelFit? parallel, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (options.Epochs <= options.InitialEpoch)
            throw new ArgumentOutOfRangeException(nameof(options), $"Fit needs InitialEpoch < Epochs; got {options.InitialEpoch} and {options.Epochs}.");
        if (options.ClassWeights is { } weights) RequireClasses(weights);
        ThrowIfDisposed();
        using var fitting = BeginFit();
        long stepsPerEpoch = train is TensorBatches b ? (train.Count + b.BatchSize - 1) / b.BatchSize : 0;
        if (parallel is not null)
            (options, train, validation) = (parallel.ForThisRank(options), parallel.Source(train), parallel.ValidationSource(validation));
        var history = new History();
        var context = new TrainingContext(this, history);
        var display = new ProgressDisplay(options, options.Epochs);
        var profiler = StepProfilerOf(options.Callbacks);
        profiler?.Watch(train as IStageCounters);
        int threadsBefore = torch.get_num_threads();
        if (options.Plan is { } plan)
        {
            try
            {
                Plan = ResolvePlan(plan, () => train.Batches(options.InitialEpoch).FirstOrDefault());
            }
            finally
            {
                torch.set_num_threads(threadsBefore);
            }
            // Every rank runs rank 0's plan: ranks that measured apart could differ in threads.
            if (parallel is not null) Plan = Plan with { Threads = parallel.RootsThreads(Plan.Threads) };
            torch.set_num_threads(Plan.Threads);
            display.Message($"Plan: {Plan}.");
        }
        if (parallel is not null) display.Message($"Distribution: {options.Distribution}.");
        foreach (var c in options.Callbacks) c.OnTrainBegin(context);
        try
        {
            for (int epoch = options.InitialEpoch; epoch < options.Epochs && context.StopReason is null; epoch++)
            {
                foreach (var c in options.Callbacks) c.OnEpochBegin(context, epoch);
                display.EpochBegin(epoch, stepsPerEpoch);
                var clock = new StepClock();
                if (TrainEpoch(train, options, epoch, context, display, clock, profiler, parallel, cancellation) is not { } logs) break;
                display.TrainingDone();
                var times = clock.Result();
                if (validation is not null)
                    foreach (var (name, value) in Evaluate(validation, parallel, cancellation)) logs["val_" + name] = value;
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
            if (options.Plan is not null) torch.set_num_threads(threadsBefore);
        }
        history.StopReason = context.StopReason;
        if (context.StopReason is not null) display.Message($"Training stopped: {context.StopReason}.");
        return history;
    }

    /// <summary>One epoch of steps; its logs, or null when it was stopped before its first step.</summary>
    Dictionary<string, double>? TrainEpoch(IBatchSource train, FitOptions options, int epoch, TrainingContext context, ProgressDisplay display,
        StepClock clock, IStepProfiler? profiler, ParallelFit? parallel, CancellationToken cancellation)
    {
        var losses = new LossAverages(heads.Length);
        long done = 0;
        var metricStates = NewMetricStates();
        bool keepGradients = options.Callbacks.Any(c => c.NeedsGradients);
        using var batches = train.Batches(epoch).GetEnumerator();
        try
        {
            // The input wait belongs to the step it feeds: a step's recording begins before its batch is asked for.
            NextProfiledStep(profiler, clock);
            while (NextBatch(batches, parallel, cancellation) is { } globalRows)
            {
                clock.InputArrived();
                using (var batch = batches.Current ?? throw new InvalidOperationException($"Fit: the training data gave a null batch in epoch {epoch + 1}."))
                {
                    double loss = Step(batch, options.ClassWeights, metricStates, losses, context, clock, keepGradients, parallel, globalRows);
                    if (context.StopReason is not null) break;
                    done++;
                    clock.BookkeepingDone();
                    // A callback's own model calls (a Predict) are not the step's: the profiler looks away.
                    var observer = LayerCall.Observer;
                    LayerCall.Observer = null;
                    try
                    {
                        foreach (var c in options.Callbacks) c.OnBatchEnd(context, State.Step, loss);
                        display.Step(epoch, done, () => Logs(losses, metricStates).Select(kv => (kv.Key, kv.Value)));
                    }
                    finally
                    {
                        LayerCall.Observer = observer;
                    }
                }
                clock.CallbacksDone();
                if (profiler is not null)
                {
                    profiler.EndStep(clock.Recorder);
                    NextProfiledStep(profiler, clock);
                }
            }
        }
        finally
        {
            profiler?.Abandon(clock.Recorder);
            clock.Recorder = null;
        }
        cancellation.ThrowIfCancellationRequested();
        if (done == 0 && context.StopReason is null)
        {
            // Nothing at all is an error; a source that runs out later ends training (as Keras does).
            if (epoch == options.InitialEpoch)
                throw new InvalidOperationException($"Fit: the training data gave no batch in epoch {epoch + 1}; there is nothing to train on.");
            context.StopTraining($"the training data ran out: epoch {epoch + 1} gave no batch");
        }
        if (done == 0) return null;
        parallel?.ReduceMetrics(metricStates);
        return Logs(losses, metricStates);
    }

    /// <summary>Moves to the next batch unless cancelled; the rows the losses of the step's
    /// global batch count (this batch's, in one process), or null when the epoch is over. In
    /// data-parallel training every rank agrees first: all stop when one runs out of data, and
    /// all are cancelled when one is.</summary>
    long? NextBatch(IEnumerator<Batch> batches, ParallelFit? parallel, CancellationToken cancellation)
    {
        bool cancelled = cancellation.IsCancellationRequested;
        bool next = !cancelled && batches.MoveNext();
        if (parallel is null) return next ? 0 : null;
        long? globalRows;
        try
        {
            globalRows = parallel.Continue(cancelled, next, next && batches.Current is { } batch ? WeighedRows(batch) : 0);
        }
        catch (OperationCanceledException)
        {
            if (next) batches.Current?.Dispose();
            throw;
        }
        if (globalRows is null && next) batches.Current?.Dispose();
        return globalRows;
    }

    /// <summary>The rows a batch's loss averages over: those its one output's loss counts (an
    /// ignore index leaves rows out), or all rows for a model with several outputs.</summary>
    long WeighedRows(Batch batch) => heads.Length == 1 ? CountedRows(heads[0], TargetsOf(batch.Targets)[0]) : batch.Rows;

    /// <summary>Begins recording the next step when the profiler wants it; the profiler's own
    /// time between steps is then no phase of either.</summary>
    static void NextProfiledStep(IStepProfiler? profiler, StepClock clock)
    {
        bool recorded = clock.Recorder is not null;
        clock.Recorder = profiler?.BeginStep();
        if (recorded || clock.Recorder is not null) clock.Skip();
    }

    /// <summary>The one step profiler among <paramref name="callbacks"/>, or null.</summary>
    static IStepProfiler? StepProfilerOf(IReadOnlyList<Callback> callbacks)
    {
        IStepProfiler? found = null;
        foreach (var c in callbacks)
            if (c is IStepProfiler p)
                found = found is null ? p : throw new ArgumentException("FitOptions.Callbacks has more than one Profiler; give one.", nameof(callbacks));
        return found;
    }

    /// <summary>
    /// One step of Fit: TrainStep with the old state donated. Fit owns the state and gives the
    /// old one away, so the optimizer overwrites its state and the gradients, and the
    /// parameters take the updates in place: no parameter-sized allocation survives the step.
    /// Adds the batch's losses to <paramref name="losses"/> unless it is dropped (a NaN).
    /// </summary>
    double Step(Batch batch, IReadOnlyDictionary<long, double>? classWeights, double[][] metricStates, LossAverages losses,
        TrainingContext context, StepClock clock, bool keepGradients, ParallelFit? parallel, long globalRows)
    {
        using var scope = torch.NewDisposeScope();
        var weights = ExampleWeights(batch, classWeights);
        var targets = TargetsOf(batch.Targets);
        // Each output's rows (Evaluate weighs its logs the same way).
        var counted = heads.Select((head, h) => CountedRows(head, targets[h])).ToArray();
        long rows = heads.Length == 1 ? counted[0] : batch.Rows;
        // Data parallelism: each rank differentiates its share of the global batch's loss
        // (rows / global rows), so the sum of the ranks' gradients is the global batch's, also
        // through synchronised BatchNorm, whose backward pass sums over the ranks.
        double share = parallel is null ? 1 : (double)rows / Math.Max(globalRows, 1);
        var step = LossAndGradient(State, batch, weights, clock.ForwardDone, parallel is null ? null : parallel.Adjust, share, parallel?.Markers);
        double loss = ToDouble(step.Loss);
        clock.BackwardDone();
        var headLosses = counted.Select((c, h) => (heads.Length == 1 ? loss : ToDouble(step.HeadLosses[h]), c)).ToArray();
        if (parallel is not null)
        {
            (loss, headLosses) = parallel.Reduce(step.Gradient, step.ModelState, State.ModelState, loss, rows, headLosses);
            clock.Communicated();
        }
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
                var copy = step.Gradient.Clone();
                scope.Detach(copy.Leaves);
                context.KeepGradients(copy);
            }
            // The step boundary: Predict on other threads waits here, so it never sees
            // parameters half updated or a model state already disposed.
            Writing(() =>
            {
                var next = Advance(State, step.ModelState, step.Gradient, donate: true);
                scope.MoveToOuter(next.ModelState.Leaves);
                State.DisposeExcept(next);
                State = next;
            });
        }
        clock.Updated();
        for (int h = 0; h < heads.Length; h++) losses.Add(h, headLosses[h].Item1, headLosses[h].Item2);
        UpdateMetrics(metricStates, step.Outputs, targets);
        return loss;
    }

    static double ToDouble(Tensor scalar) =>
        scalar.dtype == ScalarType.Float32 ? scalar.item<float>() : scalar.to_type(ScalarType.Float64).item<double>();

    /// <summary>Each example's weight in the loss: the batch's sample weights times its class
    /// weights; null when neither is given.</summary>
    Tensor? ExampleWeights(Batch batch, IReadOnlyDictionary<long, double>? classWeights)
    {
        if (classWeights is null) return batch.SampleWeights;
        var byClass = ClassWeightsFor(TargetsOf(batch.Targets)[0], classWeights);
        return batch.SampleWeights is { } w ? byClass * w.to_type(byClass.dtype) : byClass;
    }

    /// <summary>Running sums of each trained output's loss over the rows it counts.</summary>
    sealed class LossAverages(int outputs)
    {
        readonly double[] sums = new double[outputs];
        readonly long[] counts = new long[outputs];

        public void Add(int output, double meanLoss, long rows) => (sums[output], counts[output]) = (sums[output] + meanLoss * rows, counts[output] + rows);

        public void AddSum(int output, double sum, long rows) => (sums[output], counts[output]) = (sums[output] + sum, counts[output] + rows);

        public double Mean(int output) => counts[output] == 0 ? double.NaN : sums[output] / counts[output];

        /// <summary>The sums, then the counts: what ranks add up.</summary>
        public double[] Totals() => [.. sums, .. counts.Select(c => (double)c)];

        /// <summary>Replaces the sums and counts with <paramref name="totals"/> (as <see cref="Totals"/> lays them out).</summary>
        public void SetTotals(double[] totals)
        {
            for (int i = 0; i < sums.Length; i++) (sums[i], counts[i]) = (totals[i], (long)totals[sums.Length + i]);
        }
    }

    double[][] NewMetricStates() => [.. heads.SelectMany(h => h.Metrics).Select(m => m.Init())];

    void UpdateMetrics(double[][] metricStates, Tensor[] outputs, Tensor[] targets)
    {
        int k = 0;
        for (int h = 0; h < heads.Length; h++)
            foreach (var metric in heads[h].Metrics)
            {
                metricStates[k] = metric.Update(metricStates[k], outputs[heads[h].Output], targets[h]);
                k++;
            }
    }

    /// <summary>The number of classes the network's output has: its last dimension, or two for a
    /// single output (binary classification with 0/1 targets).</summary>
    long Classes => OutputShape.Length == 0 || OutputShape[^1] == 1 ? 2 : OutputShape[^1];

    /// <summary>The rows of a batch an output's loss counts (all unless it ignores some labels).</summary>
    static long CountedRows(Head head, Tensor targets)
    {
        using var scope = torch.NewDisposeScope();
        return head.Loss.CountedRows(targets) is { } counted ? counted.sum().item<long>() : targets.shape[0];
    }

    void RequireClasses(IReadOnlyDictionary<long, double> classWeights)
    {
        if (named)
            throw new ArgumentException(
                $"Fit: ClassWeights are for a model with one unnamed output; model '{Network.Name}' has named outputs: give LabeledData.SampleWeights instead.", nameof(FitOptions.ClassWeights));
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
        var counted = heads[0].Loss.CountedRows(targets);
        var classes = counted is null ? targets.to_type(ScalarType.Int64) : targets.to_type(ScalarType.Int64).where(counted, 0);
        long low = classes.min().item<long>(), high = classes.max().item<long>();
        if (low < 0 || high >= Classes)
            throw new ArgumentOutOfRangeException(nameof(targets), $"Fit: class targets must be in [0, {Classes}) to be weighted; got values from {low} to {high}.");
        var weights = table.index_select(0, classes);
        return counted is null ? weights : weights * counted;
    }

    /// <summary>The number of examples; throws unless every tensor has that many rows and there is at least one.</summary>
    long RequireExamples(LabeledData data, string operation)
    {
        ArgumentNullException.ThrowIfNull(data);
        ThrowIfDisposed();
        long rows = LabeledData.RowsOf(data.Inputs, data.Targets, data.SampleWeights, operation);
        if (rows == 0) throw new ArgumentException($"{operation}: there are no examples (0 rows); there is nothing to train on.", nameof(data));
        return rows;
    }

    /// <summary>The logs: the total loss, each named output's loss, and every metric.</summary>
    Dictionary<string, double> Logs(LossAverages losses, double[][] metricStates)
    {
        double total = 0;
        for (int h = 0; h < heads.Length; h++) total += (named ? heads[h].Weight : 1) * losses.Mean(h);
        var logs = new Dictionary<string, double>(StringComparer.Ordinal) { ["loss"] = total };
        if (named)
            for (int h = 0; h < heads.Length; h++) logs[heads[h].Prefix + "loss"] = losses.Mean(h);
        int k = 0;
        foreach (var (name, metric) in LoggedMetrics) logs[name] = metric.Result(metricStates[k++]);
        return logs;
    }
}
