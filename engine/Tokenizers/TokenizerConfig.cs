using System.Text.Json;

namespace Engine.Tokenizers;

/// <summary>
/// What a Hugging Face tokenizer_config.json says beyond the vocabulary: the Jinja chat template (rendered by
/// Engine.Templates), the BOS/EOS tokens and the added tokens by id.
/// </summary>
public sealed record TokenizerConfig(string? ChatTemplate, string? BosToken, string? EosToken, IReadOnlyDictionary<int, string> AddedTokens)
{
    /// <summary>Where the chat template came from (a file path), naming it in template errors.</summary>
    public string ChatTemplateSource { get; init; } = "chat_template";

    /// <summary>tokenizer_config.json's pad_token, when it names one.</summary>
    public string? PadToken { get; init; }

    public static TokenizerConfig Empty { get; } = new(null, null, null, new Dictionary<int, string>());

    /// <exception cref="InvalidDataException">Malformed JSON or a field of the wrong type, naming the file.</exception>
    public static TokenizerConfig Read(string path) => Parse(File.ReadAllText(path), path);

    public static TokenizerConfig Parse(string json, string source = "tokenizer_config.json")
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: not a JSON object");
            var added = new Dictionary<int, string>();
            if (root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
                foreach (var entry in decoder.EnumerateObject())
                {
                    if (!int.TryParse(entry.Name, out int id) || id < 0 || TokenText(entry.Value) is not { } content)
                        throw new InvalidDataException($"{source}: added_tokens_decoder[\"{entry.Name}\"] needs an integer key and a \"content\" string");
                    added[id] = content;
                }
            return new TokenizerConfig(ReadChatTemplate(root, source), Token(root, "bos_token", source), Token(root, "eos_token", source), added)
            {
                ChatTemplateSource = source,
                PadToken = Token(root, "pad_token", source),
            };
        }
    }

    /// <summary>A string, or a list of {name, template} of which "default" (else the first) is taken.</summary>
    private static string? ReadChatTemplate(JsonElement root, string source)
    {
        if (!root.TryGetProperty("chat_template", out var template) || template.ValueKind == JsonValueKind.Null) return null;
        if (template.ValueKind == JsonValueKind.String) return template.GetString();
        if (template.ValueKind == JsonValueKind.Array)
        {
            var named = template.EnumerateArray()
                .Where(t => t.ValueKind == JsonValueKind.Object && t.TryGetProperty("template", out var body) && body.ValueKind == JsonValueKind.String)
                .ToList();
            var chosen = named.FirstOrDefault(t => t.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String && n.GetString() == "default");
            if (chosen.ValueKind == JsonValueKind.Undefined && named.Count > 0) chosen = named[0];
            if (chosen.ValueKind != JsonValueKind.Undefined) return chosen.GetProperty("template").GetString();
        }
        throw new InvalidDataException($"{source}: chat_template is neither a string nor a list of {{name, template}}");
    }

    private static string? Token(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return TokenText(value) ?? throw new InvalidDataException($"{source}: {name} is neither a string nor an object with \"content\"");
    }

    /// <summary>A token written as a string or as an AddedToken object {"content": ...}.</summary>
    private static string? TokenText(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Object when value.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
        _ => null,
    };
}
