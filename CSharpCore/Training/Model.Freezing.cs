using Functional.Optimizers;
using Functional.Trees;

namespace Functional.Training;

public sealed partial class Model
{
    readonly SortedSet<string> frozen = new(StringComparer.Ordinal);

    /// <summary>The optimizer given at construction (before freezing).</summary>
    public GradientTransformation BaseOptimizer { get; }

    /// <summary>The parameter paths (layers or sub-trees) that training holds still.</summary>
    public IReadOnlyCollection<string> FrozenPaths => [.. frozen];

    /// <summary>
    /// Holds the parameters under <paramref name="paths"/> (a layer's name such as "encoder", a
    /// nested path, or one parameter) still: every optimizer gives them zero updates (Keras's
    /// <c>trainable = false</c>). As in Keras, where changing <c>trainable</c> means compiling
    /// again, the optimizer state starts afresh for the new set of trainable parameters.
    /// </summary>
    /// <exception cref="ArgumentException">A path that names no parameter (the message lists the layers).</exception>
    public void Freeze(params string[] paths) => ChangeFrozen(paths, add: true);

    /// <summary>Lets the parameters under <paramref name="paths"/> train again (the optimizer
    /// state starts afresh, as for <see cref="Freeze"/>).</summary>
    public void Unfreeze(params string[] paths) => ChangeFrozen(paths, add: false);

    /// <summary>Whether the parameter at <paramref name="path"/> is frozen.</summary>
    public bool IsFrozen(string path) => frozen.Any(prefix => TreePath.IsUnder(path, prefix));

    void ChangeFrozen(string[] paths, bool add)
    {
        ArgumentNullException.ThrowIfNull(paths);
        Writing(() =>
        {
            RequireNotFittingElsewhere(add ? "Freeze" : "Unfreeze");
            foreach (var path in paths)
            {
                if (string.IsNullOrEmpty(path) || !State.Params.Paths.Any(p => TreePath.IsUnder(p, path)))
                    throw new ArgumentException(
                        $"Model '{Network.Name}' has no parameters under '{path}'; its layers: {string.Join(", ", State.Params.Paths.Select(p => p.Split(TreePath.Separator)[0]).Distinct())}.",
                        nameof(paths));
                if (add) frozen.Add(path);
                else if (frozen.FirstOrDefault(prefix => prefix != path && TreePath.IsUnder(path, prefix)) is { } wider)
                    throw new ArgumentException(
                        $"'{path}' lies under the frozen '{wider}': unfreeze '{wider}' and freeze what should stay frozen.", nameof(paths));
                else frozen.RemoveWhere(prefix => TreePath.IsUnder(prefix, path));
            }
            Optimizer = frozen.Count == 0 ? BaseOptimizer : Transform.Freeze(BaseOptimizer, IsFrozen);
            var next = State with { OptState = Optimizer.Init(State.Params) };
            State.DisposeExcept(next);
            State = next;
        });
    }
}
