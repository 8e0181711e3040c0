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
/// compiled model). <see cref="TrainStep(TrainState, Batch, bool)"/> is the pure step; <see cref="Fit(Tensor, Tensor, FitOptions?, CancellationToken)"/>,
/// <see cref="Evaluate(Tensor, Tensor, int, CancellationToken)"/> and <see cref="Predict(Tensor, int, CancellationToken)"/> drive it. A hand-written
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
    /// <paramref name="inputShape"/> and initialises its state from <paramref name="seed"/>. It
    /// trains on one input tensor and one target tensor per batch. <paramref name="precision"/>
    /// sets the dtype layers compute in (<see cref="PrecisionPolicy.Global"/> by default).</summary>
    public Model(ILayer network, long[] inputShape, LossFunction loss, GradientTransformation optimizer,
        IEnumerable<Metric>? metrics = null, ulong seed = 0, PrecisionPolicy? precision = null)
    {
        Network = network ?? throw new ArgumentNullException(nameof(network));
        ShapeException.RequireValid(inputShape, $"Model '{network.Name}'");
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(optimizer);
        var outputShape = network.OutputShape(inputShape);
        (inputs, outputs, named) = ([("", inputShape)], [("", outputShape)], false);
        heads = [new Head("", 0, loss, 1, metrics?.ToArray() ?? [])];
        Precision = precision ?? PrecisionPolicy.Global;
        BaseOptimizer = optimizer;
        using var rng = TrainState.GeneratorFor(seed, -1);
        (State, Optimizer, autoLossScale) = InitialState(network.Init(rng, inputShape), optimizer, seed);
    }

    /// <summary>
    /// Compiles a functional model with named inputs and outputs (Keras's <c>compile</c> with
    /// <c>loss={...}</c>, <c>loss_weights</c> and <c>metrics</c> per output): batches are trees with
    /// a leaf per input name (<see cref="FunctionalModel.InputNames"/>) and a target leaf per
    /// output listed in <paramref name="outputs"/> (<see cref="FunctionalModel.OutputNames"/>); the
    /// loss is the weighted sum of theirs. Outputs not listed are predicted, not trained.
    /// </summary>
    /// <exception cref="ArgumentException">No outputs, a name that is not an output, or two inputs of one name.</exception>
    public Model(FunctionalModel network, IReadOnlyDictionary<string, OutputLoss> outputs, GradientTransformation optimizer, ulong seed = 0,
        PrecisionPolicy? precision = null)
    {
        Network = network ?? throw new ArgumentNullException(nameof(network));
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(optimizer);
        var (inputNames, outputNames) = (network.InputNames, network.OutputNames);
        if (inputNames.Distinct(StringComparer.Ordinal).Count() != inputNames.Count)
            throw new ArgumentException($"Model '{network.Name}': its inputs need distinct names to be fed by name; got {string.Join(", ", inputNames)}.", nameof(network));
        if (outputs.Count == 0)
            throw new ArgumentException($"Model '{network.Name}' needs a loss for at least one of its outputs ({string.Join(", ", outputNames)}).", nameof(outputs));
        if (outputs.Keys.FirstOrDefault(k => !outputNames.Contains(k)) is { } unknown)
            throw new ArgumentException($"Model '{network.Name}' has no output '{unknown}'; its outputs: {string.Join(", ", outputNames)}.", nameof(outputs));
        (inputs, this.outputs, named) = ([.. inputNames.Zip(network.InputShapes)], [.. outputNames.Zip(network.OutputShapes)], true);
        heads = [.. outputNames.Select((name, i) => (name, i)).Where(o => outputs.ContainsKey(o.name)).Select(o =>
            new Head(o.name, o.i, outputs[o.name].Loss, outputs[o.name].Weight, [.. outputs[o.name].Metrics]))];
        Precision = precision ?? PrecisionPolicy.Global;
        BaseOptimizer = optimizer;
        using var rng = TrainState.GeneratorFor(seed, -1);
        (State, Optimizer, autoLossScale) = InitialState(network.Init(rng), optimizer, seed);
    }

    /// <summary>The first state, and the optimizer training runs: under a policy that needs loss
    /// scaling, <paramref name="optimizer"/> wrapped in <see cref="LossScale.Dynamic"/> unless it
    /// scales its loss already (Keras's compile wraps it in a <c>LossScaleOptimizer</c>).</summary>
    (TrainState, GradientTransformation, bool AutoLossScale) InitialState(Variables variables, GradientTransformation optimizer, ulong seed)
    {
        var optState = optimizer.Init(variables.Params);
        bool wrap = Precision.NeedsLossScaling && LossScale.Find(optState) is null;
        if (wrap)
        {
            optState.Dispose();
            optimizer = LossScale.Dynamic(optimizer);
            optState = optimizer.Init(variables.Params);
        }
        return (new TrainState(variables.Params, variables.State, optState, 0, seed), optimizer, wrap);
    }

    /// <summary>Whether the model wrapped its optimizer in loss scaling itself (so freezing keeps the scaling outermost).</summary>
    readonly bool autoLossScale;

    readonly (string Name, long[] Shape)[] inputs, outputs;
    readonly Head[] heads;
    /// <summary>Whether batches name their inputs and targets (a leaf each) or are one tensor each.</summary>
    readonly bool named;

    /// <summary>An output the loss trains: its loss, weight and metrics, and where its logs go.</summary>
    sealed record Head(string Name, int Output, LossFunction Loss, double Weight, Metric[] Metrics)
    {
        public string Prefix => Name.Length == 0 ? "" : Name + "_";
    }

    /// <summary>The network.</summary>
    public ILayer Network { get; }
    /// <summary>The precision policy the network computes under (layers with their own override
    /// it); saved with the model. Outputs reach the loss, Predict and Evaluate in float32.</summary>
    public PrecisionPolicy Precision { get; }
    /// <summary>Per-example input shape of a model with one input.</summary>
    /// <exception cref="InvalidOperationException">The model has several inputs (see <see cref="InputShapes"/>).</exception>
    public long[] InputShape => inputs.Length == 1 ? inputs[0].Shape
        : throw new InvalidOperationException($"Model '{Network.Name}' has {inputs.Length} inputs; see InputShapes.");
    /// <summary>Per-example output shape of a model with one output.</summary>
    /// <exception cref="InvalidOperationException">The model has several outputs (see <see cref="OutputShapes"/>).</exception>
    public long[] OutputShape => outputs.Length == 1 ? outputs[0].Shape
        : throw new InvalidOperationException($"Model '{Network.Name}' has {outputs.Length} outputs; see OutputShapes.");
    /// <summary>Per-example shapes of the inputs, in order.</summary>
    public IReadOnlyList<long[]> InputShapes => [.. inputs.Select(i => i.Shape)];
    /// <summary>Per-example shapes of the outputs, in order.</summary>
    public IReadOnlyList<long[]> OutputShapes => [.. outputs.Select(o => o.Shape)];
    /// <summary>The names batches give the inputs (leaf paths), or null when batches are one input tensor.</summary>
    public IReadOnlyList<string>? InputNames => named ? [.. inputs.Select(i => i.Name)] : null;
    /// <summary>The names of the outputs (target and prediction leaf paths), or null when there is one unnamed output.</summary>
    public IReadOnlyList<string>? OutputNames => named ? [.. outputs.Select(o => o.Name)] : null;
    /// <summary>The loss of a model with one unnamed output.</summary>
    /// <exception cref="InvalidOperationException">The model has named outputs (see <see cref="Outputs"/>).</exception>
    public LossFunction Loss => named
        ? throw new InvalidOperationException($"Model '{Network.Name}' has named outputs, each with its loss; see Outputs.")
        : heads[0].Loss;
    /// <summary>What training does with each output it trains, by output name ("" for a model
    /// with one unnamed output).</summary>
    public IReadOnlyDictionary<string, OutputLoss> Outputs =>
        heads.ToDictionary(h => h.Name, h => new OutputLoss(h.Loss, h.Weight, h.Metrics), StringComparer.Ordinal);
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
                if (named)
                    throw new InvalidOperationException($"Model '{Network.Name}' has named outputs; class names are for a model with one unnamed output.");
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

    /// <summary>Metrics logged by Fit and Evaluate, every output's in output order.</summary>
    public IReadOnlyList<Metric> Metrics => [.. heads.SelectMany(h => h.Metrics)];

    /// <summary>Each metric with the name it is logged under ("accuracy", or "{output}_accuracy").</summary>
    internal IEnumerable<(string Name, Metric Metric)> LoggedMetrics => heads.SelectMany(h => h.Metrics.Select(m => (h.Prefix + m.Name, m)));
    /// <summary>The current training state (owned by the model).</summary>
    public TrainState State { get; private set; }

    /// <summary>Keras's summary table: a row per layer call of the network (nested models
    /// expanded), output shapes, parameter counts and totals (frozen parameters count as
    /// non-trainable).</summary>
    public string Summary() => Reading(() => SummaryTable.Of(Network, InputShapes, new Variables(State.Params, State.ModelState), IsFrozen));

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
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        RequireOneOutput("TrainStep");
        var (next, loss, predictions) = TrainStep(state, new Batch(inputs, targets, exampleWeights), donate);
        return (next, loss, SingleOutput(predictions));
    }

    /// <summary>One training step on a batch of trees (named inputs and targets for a model
    /// with named outputs); the predictions are a leaf per output. Otherwise as
    /// <see cref="TrainStep(TrainState, Tensor, Tensor, Tensor?, bool)"/>.</summary>
    public (TrainState State, Tensor Loss, TensorTree Predictions) TrainStep(TrainState state, Batch batch, bool donate = false)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(batch);
        ThrowIfDisposed();
        if (donate && SharesTensorsWithModel(state))
            throw new ArgumentException(
                $"Model '{Network.Name}' owns its State and the tensors in it: train it with Fit, or donate a copy (State.Copy()).", nameof(state));
        var step = LossAndGradient(state, batch, batch.SampleWeights);
        foreach (var headLoss in step.HeadLosses) headLoss.Dispose();   // Fit's logs; this caller gets the total
        return (Advance(state, step.ModelState, step.Gradient, donate), step.Loss, PredictionTree(step.Outputs));
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

    /// <summary>The forward and backward half of a step: the total loss, each trained output's
    /// (detached) loss, the detached outputs, the new model state and the gradients.
    /// <paramref name="forwardDone"/> is called between the two passes (for timing);
    /// <paramref name="adjustContext"/> adds what data parallelism tells the layers, and
    /// <paramref name="weight"/> (this rank's rows / the global batch's) scales the
    /// differentiated loss: the gradients come back weighted, the losses do not;
    /// <paramref name="markParameters"/> passes the trained parameters through markers whose
    /// backward starts their all-reduce (overlapped communication).</summary>
    (Tensor Loss, Tensor[] HeadLosses, Tensor[] Outputs, TensorTree ModelState, TensorTree Gradient) LossAndGradient(
        TrainState state, Batch batch, Tensor? exampleWeights, Action? forwardDone = null, Func<ApplyContext, ApplyContext>? adjustContext = null,
        double weight = 1, Func<TensorTree, TensorTree>? markParameters = null)
    {
        var (x, y) = (InputsOf(batch.Inputs), TargetsOf(batch.Targets));
        _ = batch.Rows;   // the same number of rows everywhere, or a ShapeException naming the two
        var context = ApplyContext.Train(RandomKey.ForStep(state.Seed, state.Step));
        if (adjustContext is not null) context = adjustContext(context);
        // Loss scaling (float16): the loss is differentiated times the scale, the gradients divided by it again.
        double scale = LossScale.Current(state.OptState);
        // Data parallelism: this rank's share of the global loss; its gradients stay weighted.
        double factor = scale * weight;
        // Frozen parameters are constants of the step: autodiff neither records nor computes
        // their gradients (a frozen base under a trained head costs no backward pass); the
        // optimizer gets zeros for them.
        var frozen = FrozenPaths.Count == 0 ? null : new HashSet<string>(state.Params.Paths.Where(IsFrozen), StringComparer.Ordinal);
        TensorTree Whole(TensorTree trainable) => frozen is null ? trainable
            : state.Params.Map((path, t) => frozen.Contains(path) ? t : trainable[path]);
        (Tensor, (Tensor[], Tensor[], TensorTree)) LossOf(TensorTree trainable)
        {
            var parameters = Whole(markParameters is null ? trainable : markParameters(trainable));
            var (outputs, modelState) = Forward(new Variables(parameters, state.ModelState), x, context);
            var (loss, headLosses) = LayerCall.ApplyLoss(outputs, o => TotalLoss(o, y, x, exampleWeights));
            forwardDone?.Invoke();
            return (factor == 1 ? loss : loss * factor, (headLosses, [.. outputs.Select(o => o.detach())], modelState.Detach()));
        }
        var differentiated = frozen is null ? state.Params : state.Params.Filter((path, _) => !frozen.Contains(path));
        Tensor loss;
        Tensor[] headLosses, outputs;
        TensorTree modelState, gradient;
        if (differentiated.Count == 0)
        {
            // Everything is frozen: the step computes the loss (and model state) and moves nothing.
            using (no_grad()) (loss, (headLosses, outputs, modelState)) = LossOf(differentiated);
            gradient = TensorTree.Empty;
        }
        else
        {
            (loss, (headLosses, outputs, modelState), gradient) = Transforms.ValueAndGrad<(Tensor[], Tensor[], TensorTree)>(LossOf)(differentiated);
            if (scale != 1) LossScale.UnscaleInPlace(gradient, scale);
        }
        if (factor != 1)
            using (no_grad()) loss = loss / factor;
        if (frozen is not null)
            gradient = state.Params.Map((path, t) => frozen.Contains(path) ? zeros_like(t) : gradient[path]);
        return (loss, headLosses, outputs, modelState, gradient);
    }

    /// <summary>The weighted sum of the trained outputs' mean losses, and each one's (detached).</summary>
    (Tensor Total, Tensor[] PerOutput) TotalLoss(Tensor[] outputs, Tensor[] targets, Tensor[] inputs, Tensor? exampleWeights)
    {
        var perOutput = new Tensor[heads.Length];
        Tensor? total = null;
        for (int h = 0; h < heads.Length; h++)
        {
            var head = heads[h];
            var values = head.Loss.PerExample(outputs[head.Output], targets[h], LossInputs(head, inputs));
            var weights = exampleWeights is null || exampleWeights.dtype == values.dtype ? exampleWeights : exampleWeights.to_type(values.dtype);
            var loss = head.Loss.Mean(values, targets[h], weights);
            perOutput[h] = loss.detach();
            // One unnamed output: the loss itself, with no extra kernel on the fast path.
            var weighted = named ? loss * head.Weight : loss;
            total = total is null ? weighted : total + weighted;
        }
        return (total!, perOutput);
    }

    /// <summary>The inputs a loss that reads them gets (the model's one input), or null.</summary>
    Tensor? LossInputs(Head head, Tensor[] inputs) =>
        !head.Loss.NeedsInputs ? null
        : inputs.Length == 1 ? inputs[0]
        : throw new InvalidOperationException($"The loss '{head.Loss.Name}' reads the batch's inputs, which needs a model with one input; model '{Network.Name}' has {inputs.Length}.");

    /// <summary>The network's outputs for one batch of each input.</summary>
    /// <remarks>The network computes under the model's precision policy; 16-bit outputs are cast to float32.</remarks>
    (Tensor[] Outputs, TensorTree State) Forward(Variables variables, Tensor[] x, ApplyContext context)
    {
        if (context.Precision != Precision) context = context with { Precision = Precision };
        if (Network is FunctionalModel f && (inputs.Length != 1 || outputs.Length != 1))
        {
            var (all, newState) = f.ApplyAll(variables, x, context);
            return ([.. all.Select(PrecisionPolicy.InFloat32)], newState);
        }
        var (output, state) = LayerCall.ApplyNetwork(Network, variables, x[0], context);
        return ([PrecisionPolicy.InFloat32(output)], state);
    }

    /// <summary>The input tensors a batch's input tree gives, in the model's input order, shapes checked.</summary>
    Tensor[] InputsOf(TensorTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ThrowIfDisposed();
        var x = Leaves(tree, [.. inputs.Select(i => i.Name)], "inputs");
        for (int i = 0; i < x.Length; i++)
        {
            var (name, shape) = inputs[i];
            if (x[i].dim() != shape.Length + 1 || !x[i].shape[1..].SequenceEqual(shape))
                throw new ShapeException(
                    $"Model '{Network.Name}' expects {(named ? $"input '{name}' of shape" : "inputs of shape")} {ShapeException.FormatBatch(shape)}, but received {ShapeException.Format(x[i].shape)}.");
        }
        return x;
    }

    /// <summary>The target tensor of each trained output, in head order.</summary>
    Tensor[] TargetsOf(TensorTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        return Leaves(tree, [.. heads.Select(h => h.Name)], "targets");
    }

    /// <summary>The leaves at <paramref name="names"/> (a leaf tree for one unnamed tensor); a
    /// clear exception for a missing or unexpected leaf.</summary>
    Tensor[] Leaves(TensorTree tree, string[] names, string what)
    {
        bool oneTensor = tree.Count == 1 && tree.Paths[0].Length == 0;
        if (named && names.Length == 1 && oneTensor) return [tree.Leaves[0]];   // one named input or output fed a tensor
        if (!named)
            return oneTensor ? [tree.Leaves[0]]
                : throw new ArgumentException(
                    $"Model '{Network.Name}' takes one tensor of {what}, not a tree ({string.Join(", ", tree.Paths)}); for named {what} build the model from a FunctionalModel with OutputLoss per output.");
        var found = new Tensor[names.Length];
        for (int i = 0; i < names.Length; i++)
            if (!tree.TryGetLeaf(names[i], out found[i]))
                throw new ArgumentException(
                    $"Model '{Network.Name}': the {what} have no leaf '{names[i]}'; it needs {string.Join(", ", names)} and got {DescribeLeaves(tree)}.");
        if (tree.Paths.FirstOrDefault(p => !names.Contains(p)) is { } extra)
            throw new ArgumentException(
                $"Model '{Network.Name}': the {what} have a leaf '{extra}' it does not take; it takes {string.Join(", ", names)}.");
        return found;
    }

    static string DescribeLeaves(TensorTree tree) => tree.Count == 0 ? "no leaves" : string.Join(", ", tree.Paths.Select(p => p.Length == 0 ? "one unnamed tensor" : p));

    /// <summary>The outputs as a tree: a leaf per output name, or one unnamed leaf.</summary>
    TensorTree PredictionTree(Tensor[] values) =>
        named ? TensorTree.FromLeaves(outputs.Select((o, i) => (o.Name, values[i]))) : TensorTree.Leaf(values[0]);

    /// <summary>The only output of a prediction tree, for the tensor overloads.</summary>
    static Tensor SingleOutput(TensorTree predictions) => predictions.Leaves[0];

    /// <summary>Refuses a tensor overload (one output tensor) on a model with several outputs.</summary>
    void RequireOneOutput(string operation)
    {
        if (outputs.Length != 1)
            throw new InvalidOperationException($"Model '{Network.Name}' has {outputs.Length} outputs: {operation} it with the overload that takes and returns trees.");
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
