using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Base of the built-in layers: a name, and checks of the input's shape and dtype that run
/// before libtorch does, so a mistake names the layer instead of failing deep inside an op (or,
/// for libtorch exports without an exception guard such as <c>matmul</c>, ending the process).
/// </summary>
public abstract class Layer : IDescribedLayer
{
    /// <summary>Creates a layer; <paramref name="name"/> defaults to <see cref="Kind"/>.</summary>
    protected Layer(string? name) => Name = name ?? Kind;

    /// <summary>The dtypes a layer computes on.</summary>
    protected enum InputDtypes
    {
        /// <summary>Floating point; an input of another floating dtype is cast to the dtype of the
        /// layer's variables (a layer without variables keeps the input's).</summary>
        Floating,
        /// <summary>Integer ids (no bool, no floating point).</summary>
        Integer,
        /// <summary>Any dtype (reshapes).</summary>
        Any,
    }

    /// <summary>What a layer does under a mixed <see cref="PrecisionPolicy"/>.</summary>
    protected enum MixedPrecision
    {
        /// <summary>Computes in the policy's compute dtype: its floating parameters and input are
        /// cast to it (Dense, convolutions, attention, recurrent cells). Layers without variables
        /// compute in their input's dtype.</summary>
        Compute,
        /// <summary>Computes in float32 (normalisation statistics) and gives its output back in
        /// the dtype the input came in.</summary>
        Float32,
        /// <summary>Computes in float32 and casts its output to the compute dtype (a lookup
        /// such as Embedding: casting its whole table every step would cost more).</summary>
        Float32ThenCompute,
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>This layer's own precision policy (Keras's per-layer <c>dtype</c>), overriding
    /// the model's; null (the default) follows the model. Set with <see cref="LayerPrecision.WithPrecision{TLayer}"/>.</summary>
    public PrecisionPolicy? Precision { get; private set; }

    /// <summary>A copy of this layer with its own precision policy (null: follow the model's).</summary>
    internal Layer CopyWithPrecision(PrecisionPolicy? policy)
    {
        var copy = (Layer)MemberwiseClone();
        copy.Precision = policy;
        return copy;
    }

    /// <summary>How this layer computes under a mixed policy (<see cref="MixedPrecision.Compute"/> unless overridden).</summary>
    protected virtual MixedPrecision UnderMixedPrecision => MixedPrecision.Compute;

    /// <summary>The layer type's short name, e.g. "dense"; the default layer name. Built-in
    /// layers take it from their <see cref="LayerKindAttribute"/>; other layers may override it
    /// (the type's name otherwise).</summary>
    public virtual string Kind => LayerRegistry.KindOfType(GetType()) ?? GetType().Name;

    /// <summary>The layer's configuration (Keras's <c>get_config</c>); null, the default, for a
    /// layer that cannot be described (it then cannot be saved as a description).</summary>
    public virtual LayerConfig? Config => null;

    /// <summary>The dtypes this layer takes (floating point unless overridden).</summary>
    protected virtual InputDtypes Accepts => InputDtypes.Floating;

    /// <summary>Whether the layer takes integer ids (an exported model's input is then int64).</summary>
    internal bool TakesIds => Accepts == InputDtypes.Integer;

    /// <inheritdoc/>
    public abstract long[] OutputShape(long[] inputShape);

    /// <summary>Checks <paramref name="inputShape"/> (every dimension positive) and makes the
    /// variables with <see cref="Initialize"/>; shapes too large for this machine are an
    /// <see cref="ArgumentOutOfRangeException"/> naming the layer, never a native failure.</summary>
    public Variables Init(torch.Generator rng, long[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ShapeException.RequireValid(inputShape, $"Layer '{Name}' ({Kind})");
        try
        {
            return Initialize(rng, inputShape);
        }
        catch (ArgumentOutOfRangeException e) when (e.ParamName == "shape")
        {
            throw new ArgumentOutOfRangeException("shape",
                $"Layer '{Name}' ({Kind}) cannot allocate its variables: {e.Message.Replace(" (Parameter 'shape')", "")}");
        }
    }

    /// <summary>Fresh variables for a checked <paramref name="inputShape"/> (none by default).
    /// Allocate parameters through <see cref="Initializers"/>, which check their shapes.</summary>
    protected virtual Variables Initialize(torch.Generator rng, long[] inputShape)
    {
        OutputShape(inputShape);
        return Variables.None;
    }

    /// <inheritdoc/>
    public (Tensor Output, TensorTree State) Apply(Variables variables, Tensor input, ApplyContext context)
    {
        ArgumentNullException.ThrowIfNull(variables);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(context);
        if (input.dim() < 1)
            throw new ShapeException($"Layer '{Name}' ({Kind}) expects a batch of inputs (at least 1 dimension), but received a scalar.");
        var dtype = VariablesDtype(variables);
        var policy = Precision ?? context.Precision;
        if (policy.IsMixed && dtype == policy.VariableDtype) return ApplyMixed(policy.ComputeDtype, dtype.Value, variables, input, context);
        input = AcceptDtype(input, dtype);
        CheckInput(variables, input);
        return Forward(variables, input, context);
    }

    /// <summary>Apply under a mixed policy, for a layer whose variables are in the policy's variable dtype.</summary>
    (Tensor Output, TensorTree State) ApplyMixed(ScalarType compute, ScalarType variableDtype, Variables variables, Tensor input, ApplyContext context)
    {
        var role = UnderMixedPrecision;
        if (role == MixedPrecision.Compute)
        {
            var cast = new Variables(variables.Params.Map(t => t.is_floating_point() ? t.to_type(compute) : t), variables.State);
            input = AcceptDtype(input, compute);
            CheckInput(cast, input);
            return Forward(cast, input, context);
        }
        var original = input.dtype;
        input = AcceptDtype(input, variableDtype);
        CheckInput(variables, input);
        var (output, state) = Forward(variables, input, context);
        var outputDtype = role == MixedPrecision.Float32ThenCompute ? compute : original;
        return (output.is_floating_point() && PrecisionPolicy.IsHalf(outputDtype) && output.dtype != outputDtype ? output.to_type(outputDtype) : output, state);
    }

    /// <summary>Throws <see cref="ShapeException"/> when <paramref name="input"/> does not fit.</summary>
    protected virtual void CheckInput(Variables variables, Tensor input) => OutputShape(input.shape[1..]);

    /// <summary>The computation, on an input that passed <see cref="CheckInput"/>.</summary>
    protected abstract (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context);

    /// <summary>A <see cref="ShapeException"/> naming this layer.</summary>
    protected ShapeException ShapeError(string expected, IEnumerable<long> received) =>
        new($"Layer '{Name}' ({Kind}) expects input of shape {expected}, but received {ShapeException.FormatBatch(received)}.");

    /// <summary>Throws <see cref="ShapeException"/> unless the variable at <paramref name="path"/> has
    /// the <paramref name="expected"/> shape (-1: any size). Layers whose ops have no native
    /// exception guard (matmul) check their variables with it.</summary>
    protected Tensor RequireVariable(TensorTree tree, string path, params long[] expected)
    {
        var t = tree[path];
        if (t.dim() != expected.Length || expected.Where((d, i) => d >= 0 && t.shape[i] != d).Any())
            throw new ShapeException(
                $"Layer '{Name}' ({Kind}) has a variable '{path}' of shape {ShapeException.Format(t.shape)}; it needs ({string.Join(", ", expected.Select(d => d < 0 ? "any" : d.ToString()))}).");
        return t;
    }

    /// <summary>The floating dtype all of the variables share (null when there are none);
    /// <see cref="DtypeException"/> when they mix dtypes or a parameter is not floating point
    /// (an integer kernel would reach libtorch's unguarded matmul).</summary>
    protected ScalarType? VariablesDtype(Variables variables)
    {
        ScalarType? dtype = null;
        foreach (var tree in (ReadOnlySpan<TensorTree>)[variables.Params, variables.State])
            for (int i = 0; i < tree.Count; i++)
            {
                var t = tree.Leaves[i];
                if (!t.is_floating_point())
                {
                    if (ReferenceEquals(tree, variables.Params))
                        throw new DtypeException($"Layer '{Name}' ({Kind}) has a parameter '{tree.Paths[i]}' of dtype {t.dtype}; parameters are floating point.");
                    continue;
                }
                if (dtype is { } d && d != t.dtype)
                    throw new DtypeException(
                        $"Layer '{Name}' ({Kind}) has variables of mixed dtypes: '{tree.Paths[i]}' is {t.dtype}, others are {d}. Cast them to one dtype.");
                dtype = t.dtype;
            }
        return dtype;
    }

    /// <summary>The input in the dtype the layer computes in: floating inputs cast to
    /// <paramref name="variablesDtype"/>; anything else <see cref="Accepts"/> rejects is a
    /// <see cref="DtypeException"/>.</summary>
    protected Tensor AcceptDtype(Tensor input, ScalarType? variablesDtype, string what = "input")
    {
        switch (Accepts)
        {
            case InputDtypes.Floating:
                if (!input.is_floating_point())
                    throw new DtypeException($"Layer '{Name}' ({Kind}) expects floating-point {what}, but received {input.dtype}.");
                return variablesDtype is { } d && input.dtype != d ? input.to_type(d) : input;
            case InputDtypes.Integer:
                if (input.is_floating_point() || input.is_complex() || input.dtype == ScalarType.Bool)
                    throw new DtypeException($"Layer '{Name}' ({Kind}) expects integer {what}, but received {input.dtype}.");
                return input;
            default:
                return input;
        }
    }
}
