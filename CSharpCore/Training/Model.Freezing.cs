using Functional.Optimizers;
using Functional.Trees;

namespace Functional.Training;

public sealed partial class Model
{
    readonly SortedSet<string> frozen = new(StringComparer.Ordinal);

    /// <summary>The optimizer given at construction (before freezing).</summary>
    public GradientTransformation BaseOptimizer { get; }

    /// <summary>The parameter paths (layers or sub-trees) that training holds still.</summary>
    public IReadOnlyCollection<string> FrozenPaths
    {
        get
        {
            lock (frozen) return [.. frozen];
        }
    }

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
    public bool IsFrozen(string path)
    {
        lock (frozen) return frozen.Any(prefix => TreePath.IsUnder(path, prefix));
    }

    /// <summary>Checks every path, then swaps in the new set, the optimizer for it and fresh
    /// optimizer state together: a bad path changes nothing.</summary>
    void ChangeFrozen(string[] paths, bool add)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (paths.Length == 0) throw new ArgumentException($"{(add ? "Freeze" : "Unfreeze")} needs at least one path.", nameof(paths));
        Writing(() =>
        {
            RequireNotFittingElsewhere(add ? "Freeze" : "Unfreeze");
            SortedSet<string> next;
            lock (frozen) next = new SortedSet<string>(frozen, StringComparer.Ordinal);
            foreach (var path in paths)
            {
                if (string.IsNullOrEmpty(path) || !State.Params.Paths.Any(p => TreePath.IsUnder(p, path)))
                    throw new ArgumentException(
                        $"Model '{Network.Name}' has no parameters under '{path}'; its layers: {string.Join(", ", State.Params.Paths.Select(p => p.Split(TreePath.Separator)[0]).Distinct())}.",
                        nameof(paths));
                if (add) next.Add(path);
                else if (next.FirstOrDefault(prefix => prefix != path && TreePath.IsUnder(path, prefix)) is { } wider)
                    throw new ArgumentException(
                        $"'{path}' lies under the frozen '{wider}': unfreeze '{wider}' and freeze what should stay frozen.", nameof(paths));
                else next.RemoveWhere(prefix => TreePath.IsUnder(prefix, path));
            }
            lock (frozen)
            {
                if (next.SetEquals(frozen)) return;
                frozen.Clear();
                frozen.UnionWith(next);
            }
            // The optimizer groups leaves by this snapshot, never by the live set.
            var snapshot = next.ToArray();
            var trained = snapshot.Length == 0 ? BaseOptimizer
                : Transform.Freeze(BaseOptimizer, path => snapshot.Any(prefix => TreePath.IsUnder(path, prefix)));
            Optimizer = autoLossScale ? LossScale.Dynamic(trained) : trained;
            var state = State with { OptState = Optimizer.Init(State.Params) };
            State.DisposeExcept(state);
            State = state;
        });
    }
}
