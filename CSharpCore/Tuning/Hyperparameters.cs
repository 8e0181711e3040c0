using System.Globalization;

namespace Functional.Tuning;

/// <summary>The values of one trial of a search, by name (numbers are doubles).</summary>
public sealed class Hyperparameters
{
    readonly (string Name, object Value)[] values;

    /// <summary>A trial's values, in the order of the space.</summary>
    /// <exception cref="ArgumentException">A name given twice, or a value that is not a number, string or boolean.</exception>
    public Hyperparameters(IEnumerable<(string Name, object Value)> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        this.values = [.. values.Select(v => (v.Name, HyperparameterSpace.KindOf(v.Value) == HyperparameterSpace.ValueKind.Number
            ? Convert.ToDouble(v.Value, CultureInfo.InvariantCulture) : v.Value))];
        if (this.values.GroupBy(v => v.Name).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ArgumentException($"Hyperparameter '{twice.Key}' is given twice.", nameof(values));
        Values = this.values.ToDictionary(v => v.Name, v => v.Value);
    }

    /// <summary>The values by name, in the order of the space.</summary>
    public IReadOnlyDictionary<string, object> Values { get; }

    object Get(string name) => values.FirstOrDefault(v => v.Name == name) is { Name: not null } found ? found.Value
        : throw new KeyNotFoundException($"The trial has no hyperparameter '{name}'; it has {string.Join(", ", values.Select(v => $"'{v.Name}'"))}.");

    /// <summary>A number.</summary>
    public double Double(string name) => Get(name) is double d ? d : throw Kind(name, "a number");

    /// <summary>A whole number (a number choice such as 64, or a range's draw rounded).</summary>
    public int Int(string name) => (int)Math.Round(Double(name));

    /// <summary>A string.</summary>
    public string String(string name) => Get(name) as string ?? throw Kind(name, "a string");

    /// <summary>A boolean.</summary>
    public bool Bool(string name) => Get(name) is bool b ? b : throw Kind(name, "a boolean");

    InvalidCastException Kind(string name, string wanted) => new($"Hyperparameter '{name}' is {Get(name)} ({Get(name).GetType().Name}), not {wanted}.");

    /// <summary>"units=64, optimizer=adam, learning_rate=0.001".</summary>
    public override string ToString() => string.Join(", ", values.Select(v => $"{v.Name}={Format(v.Value)}"));

    static string Format(object value) => value is double d ? d.ToString("G4", CultureInfo.InvariantCulture) : value.ToString()!;
}
