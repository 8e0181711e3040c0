using Functional.Export;
using Functional.Layers;
using Functional.Training;
using Functional.Trees;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;

namespace Functional.Compilation;

/// <summary>
/// Compiled inference (TensorFlow's <c>tf.function</c>, <c>torch.compile</c>): TorchSharp cannot
/// trace .NET code, but a network is data, so its description lowers to ONNX and ONNX Runtime
/// runs it. A Sequential whose layers do not all lower is cut into parts: runs of layers that
/// lower become sessions, the others run eagerly between them, and the plan names each break.
/// </summary>
public static class ModelCompilation
{
    /// <summary>Compiles <paramref name="model"/> for inference with its current weights.</summary>
    /// <exception cref="ArgumentException">A model with several inputs or outputs (compile one fed one tensor).</exception>
    public static CompiledModel Compile(this Model model, CompileOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new CompileOptions();
        if (model.InputNames is not null && (model.InputShapes.Count != 1 || model.OutputShapes.Count != 1))
            throw new ArgumentException($"Model '{model.Network.Name}' has {model.InputShapes.Count} inputs and {model.OutputShapes.Count} outputs; Compile takes a model with one of each.", nameof(model));
        int threads = options.IntraOpThreads ?? torch.get_num_threads();
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(options), threads, "IntraOpThreads must be at least 1.");
        using var sessionOptions = SessionOptionsFor(threads, options.Spinning);
        TrainState? compiledState = null;
        var segments = new List<Segment>();
        try
        {
            model.ReadState(state =>
            {
                compiledState = state;
                segments.AddRange(Segments(model.Network, model.InputShape, new Variables(state.Params, state.ModelState), sessionOptions));
            });
        }
        catch
        {
            foreach (var s in segments) s.Dispose();
            throw;
        }
        var plan = new ExecutionPlan([.. segments.Select(s => s.Description)], threads, options.Spinning);
        return new CompiledModel(model, compiledState!, [.. segments], plan);
    }

    /// <summary>The network's parts: runs of calls that lower to ONNX become sessions, runs of
    /// the others eager parts (with a copy of their weights).</summary>
    static IEnumerable<Segment> Segments(ILayer network, long[] inputShape, Variables variables, SessionOptions options)
    {
        var parts = new List<(string Name, ILayer Layer, long[] InputShape, string? Break)>();
        var shape = inputShape;
        foreach (var (name, layer) in Parts(network))
        {
            parts.Add((name, layer, shape, LoweringProblem(layer, shape, Own(variables, name))));
            shape = layer.OutputShape(shape);
        }
        for (int start = 0; start < parts.Count;)
        {
            bool lowers = parts[start].Break is null;
            int end = start + 1;
            while (end < parts.Count && (parts[end].Break is null) == lowers) end++;
            var run = parts.GetRange(start, end - start);
            var names = run.Select(p => p.Name.Length == 0 ? p.Layer.Name : p.Name).ToArray();
            var (part, partVariables) = run.Count == 1 && run[0].Name.Length == 0
                ? (run[0].Layer, variables)
                : Subsequence(variables, run.Select(p => (p.Name, p.Layer)).ToArray());
            yield return lowers
                ? new OnnxSegment(part, run[0].InputShape, partVariables, names, options)
                : new EagerSegment(part, new Variables(partVariables.Params.Clone(), partVariables.State.Clone()), names,
                    string.Join("; ", run.Select(p => p.Break)));
            start = end;
        }
    }

    /// <summary>Why a call does not lower to ONNX, or null when it does.</summary>
    static string? LoweringProblem(ILayer layer, long[] inputShape, Variables variables)
    {
        try
        {
            OnnxGraph.Build(layer, inputShape, variables);
            return null;
        }
        catch (NotSupportedException e)
        {
            return e.Message;
        }
    }

    /// <summary>A Sequential's calls by name (where it may break); any other network as one call named "".</summary>
    static IEnumerable<(string Name, ILayer Layer)> Parts(ILayer network) =>
        network is Sequential sequential ? sequential.Layers : [("", network)];

    /// <summary>The variables of the call named <paramref name="name"/> ("" for the whole network).</summary>
    static Variables Own(Variables variables, string name) =>
        name.Length == 0 ? variables : new Variables(variables.Params.Select(name), variables.State.Select(name));

    /// <summary>A Sequential of some of a Sequential's calls, and their variables under the names it gives them.</summary>
    static (ILayer, Variables) Subsequence(Variables variables, (string Name, ILayer Layer)[] calls)
    {
        var part = new Sequential([.. calls.Select(c => c.Layer)]);
        TensorTree Renamed(TensorTree tree) => calls.Select((c, k) => tree.Select(c.Name).Prefix(part.Layers[k].Name))
            .Aggregate(TensorTree.Empty, (all, one) => all.Merge(one));
        return (part, new Variables(Renamed(variables.Params), Renamed(variables.State)));
    }

    static SessionOptions SessionOptionsFor(int threads, Spinning spinning)
    {
        var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning == Spinning.Off ? "0" : "1");
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        // An int8 weights-only product becomes MatMulNBits, which by default (level 4) also rounds
        // its input to int8: level 1 keeps the input float32, as the model computes it.
        options.AddSessionConfigEntry("session.qdq_matmulnbits_accuracy_level", "1");
        if (spinning == Spinning.DuringRun) options.AddSessionConfigEntry("session.force_spinning_stop", "1");
        return options;
    }
}
