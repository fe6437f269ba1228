using System.Globalization;
using System.Text.Json;

namespace Engine.IO;

/// <summary>Typed access to one JSON object's fields (config.json, adapter_config.json), a missing field and a JSON null alike reading as
/// absent; every error is a <see cref="CheckpointFormatException"/> that names the file and the field.</summary>
internal sealed class JsonFields(JsonElement obj, string source)
{
    public CheckpointFormatException Error(string message) => new($"{source}: {message}");

    public bool Has(string key) => Get(key) is not null;

    /// <summary>Whether the field is written at all, even as null: for the few fields whose absence means a default and whose null means none.</summary>
    public bool Present(string key) => obj.TryGetProperty(key, out _);

    public JsonFields? Object(string key)
    {
        var value = Get(key);
        if (value is null) return null;
        if (value.Value.ValueKind != JsonValueKind.Object) throw Error($"'{key}' is {value.Value.GetRawText()}, expected an object");
        return new JsonFields(value.Value, source);
    }

    public string? String(params string[] keys) => First<string>(keys, JsonValueKind.String, "a string", v => v.GetString());

    public bool? Bool(string key) => First<bool?>([key], JsonValueKind.True, "true or false", v => v.GetBoolean());

    public int? Int(params string[] keys) => First<int?>(keys, JsonValueKind.Number, "a 32-bit integer", v => v.TryGetInt32(out int i) ? i : (int?)null);

    public double? Double(params string[] keys) => First<double?>(keys, JsonValueKind.Number, "a number", v => v.GetDouble());

    public int RequiredInt(params string[] keys) => Int(keys) ?? throw Missing(keys);

    public double RequiredDouble(params string[] keys) => Double(keys) ?? throw Missing(keys);

    private CheckpointFormatException Missing(string[] keys) => Error($"no {string.Join(" or ", keys.Select(k => $"'{k}'"))}");

    private JsonElement? Get(string key) =>
        obj.TryGetProperty(key, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    /// <summary>The first of keys that is present, which must be of the kind (true stands for both booleans) and convert.</summary>
    private T? First<T>(string[] keys, JsonValueKind kind, string what, Func<JsonElement, T?> convert)
    {
        foreach (var key in keys)
        {
            if (Get(key) is not { } value) continue;
            bool kindMatches = kind == JsonValueKind.True ? value.ValueKind is JsonValueKind.True or JsonValueKind.False : value.ValueKind == kind;
            T? result = kindMatches ? convert(value) : default;
            return result ?? throw Error($"'{key}' is {value.GetRawText()}, expected {what}");
        }
        return default;
    }

    /// <summary>Parses a JSON object's text and hands its fields to parse; source names the file in error messages.</summary>
    public static T Parse<T>(string json, string source, Func<JsonFields, T> parse)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"{source}: not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointFormatException($"{source}: not a JSON object");
            return parse(new JsonFields(document.RootElement, source));
        }
    }

    /// <summary>A list of strings, or one string as a list of one; null when absent.</summary>
    public IReadOnlyList<string>? Strings(string key)
    {
        if (Get(key) is not { } value) return null;
        if (value.ValueKind == JsonValueKind.String) return [value.GetString()!];
        if (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            return value.EnumerateArray().Select(e => e.GetString()!).ToList();
        throw Error($"'{key}' is {value.GetRawText()}, expected a string or a list of strings");
    }

    /// <summary>A list of 32-bit integers, or one integer as a list of one; null when absent.</summary>
    public IReadOnlyList<int>? Ints(string key)
    {
        if (Get(key) is not { } value) return null;
        var items = value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().ToList() : [value];
        var ints = items.Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int i) ? i : (int?)null).ToList();
        if (ints.Any(i => i is null)) throw Error($"'{key}' is {value.GetRawText()}, expected an integer or a list of integers");
        return ints.Select(i => i!.Value).ToList();
    }

    /// <summary>The JSON kind of a field; null when absent.</summary>
    public JsonValueKind? Kind(string key) => Get(key)?.ValueKind;

    /// <summary>True when the field is absent, null, or an empty object or list.</summary>
    public bool IsEmpty(string key) => Get(key) is not { } value
        || (value.ValueKind == JsonValueKind.Object && !value.EnumerateObject().Any())
        || (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 0);

    /// <summary>The double with the float's shortest decimal form (1e-6f → 1E-06, not 9.99999997E-07), so it reads back to the same float.</summary>
    public static double Widen(float x) => double.Parse(x.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>A number that Python reads as a float: with a decimal point or an exponent (8 → 8.0).</summary>
    public static void WriteFloat(Utf8JsonWriter w, string name, double value)
    {
        if (!double.IsFinite(value)) throw new ArgumentException($"{name} is {value}, which JSON cannot hold");
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        if (!text.Contains('.') && !text.Contains('E')) text += ".0";
        w.WritePropertyName(name);
        w.WriteRawValue(text);
    }
}
