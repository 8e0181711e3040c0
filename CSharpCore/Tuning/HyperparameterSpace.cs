using System.Globalization;

namespace Functional.Tuning;

/// <summary>
/// The hyperparameters of a search and the values each may take: a list of choices (numbers,
/// strings or booleans), or a range of numbers (uniform, or log-uniform for rates). A grid
/// (<see cref="Grid"/>) tries every combination of choices; a random search
/// (<see cref="Random"/>) draws from every domain, seeded.
/// </summary>
/// <example><code>
/// var space = new HyperparameterSpace()
///     .Choice("units", 32, 64)
///     .Choice("optimizer", "adam", "sgd")
///     .LogRange("learning_rate", 1e-4, 1e-2);
/// </code></example>
public sealed class HyperparameterSpace
{
    readonly List<Domain> domains = [];

    /// <summary>The hyperparameters, in the order they were added.</summary>
    public IReadOnlyList<Domain> Domains => domains;

    /// <summary>A hyperparameter that takes one of <paramref name="values"/> (all numbers, all
    /// strings, or all booleans).</summary>
    public HyperparameterSpace Choice(string name, params object[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length == 0) throw new ArgumentException($"Hyperparameter '{name}' needs at least one value.", nameof(values));
        var kinds = values.Select(KindOf).Distinct().ToList();
        if (kinds.Count != 1)
            throw new ArgumentException($"Hyperparameter '{name}' mixes kinds of value ({string.Join(", ", values.Select(v => v?.GetType().Name ?? "null"))}); give all numbers, all strings or all booleans.", nameof(values));
        object[] converted = [.. values.Select(v => kinds[0] == ValueKind.Number ? Convert.ToDouble(v, CultureInfo.InvariantCulture) : v)];
        if (converted.Distinct().Count() != converted.Length) throw new ArgumentException($"Hyperparameter '{name}' lists a value twice.", nameof(values));
        return Add(new Domain(name, kinds[0], converted, null, false));
    }

    /// <summary>A number drawn uniformly from [<paramref name="min"/>, <paramref name="max"/>] (random search only).</summary>
    public HyperparameterSpace Range(string name, double min, double max) => Add(RangeOf(name, min, max, log: false));

    /// <summary>A positive number drawn log-uniformly from [<paramref name="min"/>, <paramref name="max"/>]
    /// (learning rates, weight decay; random search only).</summary>
    public HyperparameterSpace LogRange(string name, double min, double max)
    {
        if (!(min > 0)) throw new ArgumentOutOfRangeException(nameof(min), min, $"Hyperparameter '{name}': a log range needs min > 0.");
        return Add(RangeOf(name, min, max, log: true));
    }

    static Domain RangeOf(string name, double min, double max, bool log) =>
        double.IsFinite(min) && double.IsFinite(max) && min < max ? new Domain(name, ValueKind.Number, null, (min, max), log)
        : throw new ArgumentOutOfRangeException(nameof(max), $"Hyperparameter '{name}' needs finite min < max; got [{min}, {max}].");

    HyperparameterSpace Add(Domain domain)
    {
        if (string.IsNullOrWhiteSpace(domain.Name)) throw new ArgumentException("A hyperparameter needs a name.", nameof(domain));
        if (domains.Any(d => d.Name == domain.Name)) throw new ArgumentException($"Hyperparameter '{domain.Name}' is defined twice.", nameof(domain));
        domains.Add(domain);
        return this;
    }

    /// <summary>Every combination of the choices, the last hyperparameter varying fastest.</summary>
    /// <exception cref="InvalidOperationException">The space is empty or has a range (a grid needs choices).</exception>
    public IReadOnlyList<Hyperparameters> Grid()
    {
        if (domains.Count == 0) throw new InvalidOperationException("The search space has no hyperparameters.");
        if (domains.FirstOrDefault(d => d.Values is null) is { } range)
            throw new InvalidOperationException($"A grid needs choices, but '{range.Name}' is a range; give it Choice values or use Random.");
        IEnumerable<IEnumerable<(string, object)>> combinations = [[]];
        foreach (var d in domains)
            combinations = combinations.SelectMany(c => d.Values!.Select(v => c.Append((d.Name, v))));
        return [.. combinations.Select(c => new Hyperparameters(c))];
    }

    /// <summary><paramref name="trials"/> draws, each hyperparameter independently, from
    /// <paramref name="seed"/> (the same seed, the same trials).</summary>
    public IReadOnlyList<Hyperparameters> Random(int trials, int seed = 0)
    {
        if (domains.Count == 0) throw new InvalidOperationException("The search space has no hyperparameters.");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(trials);
        var rng = new System.Random(seed);
        return [.. Enumerable.Range(0, trials).Select(_ => new Hyperparameters(domains.Select(d => (d.Name, d.Draw(rng)))))];
    }

    internal static ValueKind KindOf(object? value) => value switch
    {
        string => ValueKind.String,
        bool => ValueKind.Bool,
        byte or sbyte or short or ushort or int or uint or long or ulong or float or double or decimal => ValueKind.Number,
        _ => throw new ArgumentException($"A hyperparameter value is a number, a string or a boolean, not {value?.GetType().Name ?? "null"}."),
    };

    /// <summary>What a hyperparameter's values are.</summary>
    public enum ValueKind
    {
        /// <summary>Numbers (kept as double).</summary>
        Number,
        /// <summary>Strings.</summary>
        String,
        /// <summary>Booleans.</summary>
        Bool,
    }

    /// <summary>One hyperparameter: its choices, or its range.</summary>
    /// <param name="Name">Its name.</param>
    /// <param name="Kind">What its values are.</param>
    /// <param name="Values">The choices, or null for a range.</param>
    /// <param name="Interval">The range, or null for choices.</param>
    /// <param name="Log">Whether the range is drawn log-uniformly.</param>
    public sealed record Domain(string Name, ValueKind Kind, IReadOnlyList<object>? Values, (double Min, double Max)? Interval, bool Log)
    {
        internal object Draw(System.Random rng)
        {
            if (Values is { } values) return values[rng.Next(values.Count)];
            var (min, max) = Interval!.Value;
            double u = rng.NextDouble();
            return Log ? Math.Exp(Math.Log(min) + u * (Math.Log(max) - Math.Log(min))) : min + u * (max - min);
        }
    }
}
