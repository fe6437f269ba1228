using System.Text.Json;

namespace Engine.Checks;

/// <summary>
/// The kwargs of one IFEval instruction, typed: a key that is missing or JSON null reads as absent (Hugging Face's copy of the data lists
/// every key of every instruction, most of them null), a key the instruction does not take or a value of the wrong type is an
/// <see cref="ArgumentException"/> that names the instruction and the key.
/// </summary>
public sealed class InstructionArgs
{
    private readonly Dictionary<string, JsonElement> values = [];
    private readonly string id;

    /// <param name="kwargs">A JSON object, or null / undefined for none.</param>
    /// <param name="accepted">The keys the instruction takes.</param>
    public InstructionArgs(string id, JsonElement kwargs, IReadOnlyCollection<string> accepted)
    {
        this.id = id;
        if (kwargs.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null) return;
        if (kwargs.ValueKind != JsonValueKind.Object) throw new ArgumentException($"{id}: kwargs are {kwargs.ValueKind}, expected an object");
        foreach (var property in kwargs.EnumerateObject())
        {
            if (property.Value.ValueKind == JsonValueKind.Null) continue;
            if (!accepted.Contains(property.Name))
                throw new ArgumentException($"{id}: unknown kwarg '{property.Name}' (it takes {(accepted.Count == 0 ? "none" : string.Join(", ", accepted))})");
            values[property.Name] = property.Value;
        }
    }

    /// <summary>A whole number ≥ 0 (2.0 is accepted as 2, as Python would pass it).</summary>
    public int Int(string key)
    {
        var value = Required(key);
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) && d == Math.Floor(d) && d is >= 0 and <= int.MaxValue) return (int)d;
        throw WrongType(key, value, "a whole number ≥ 0");
    }

    public string String(string key)
    {
        var value = Required(key);
        return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw WrongType(key, value, "a string");
    }

    /// <summary>A list of strings (a single string is taken as a list of one).</summary>
    public string[] Strings(string key)
    {
        var value = Required(key);
        if (value.ValueKind == JsonValueKind.String) return [value.GetString()!];
        if (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String))
            return value.EnumerateArray().Select(v => v.GetString()!).ToArray();
        throw WrongType(key, value, "a list of strings");
    }

    /// <summary>IFEval's comparison: "less than" (count &lt; n) or "at least" (count ≥ n).</summary>
    public Relation Relation(string key) => String(key) switch
    {
        "less than" => Checks.Relation.LessThan,
        "at least" => Checks.Relation.AtLeast,
        var other => throw new ArgumentException($"{id}: kwarg '{key}' is \"{other}\", expected \"less than\" or \"at least\""),
    };

    private JsonElement Required(string key) =>
        values.TryGetValue(key, out var value) ? value : throw new ArgumentException($"{id}: kwarg '{key}' is missing");

    private ArgumentException WrongType(string key, JsonElement value, string expected) =>
        new($"{id}: kwarg '{key}' is {value.GetRawText()}, expected {expected}");
}

/// <summary>How a count compares with its threshold in IFEval's instructions.</summary>
public enum Relation { LessThan, AtLeast }

/// <summary>Applying a <see cref="Relation"/>.</summary>
public static class RelationExtensions
{
    public static bool Holds(this Relation relation, int count, int threshold) => relation == Relation.LessThan ? count < threshold : count >= threshold;

    public static string Describe(this Relation relation) => relation == Relation.LessThan ? "less than" : "at least";
}
