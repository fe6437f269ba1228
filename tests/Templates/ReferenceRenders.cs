using System.Text.Json.Nodes;
using Xunit;

namespace Engine.Tests.Templates;

/// <summary>
/// The real chat templates in tests/Data/ChatTemplates/templates, the conversations they are rendered for, and the renders
/// Hugging Face's Jinja environment produced for them (render_reference.py; see SOURCES.md there for how they were obtained).
/// </summary>
public static class ReferenceRenders
{
    public static string Directory { get; } = Path.Combine(AppContext.BaseDirectory, "Data", "ChatTemplates");

    /// <summary>Fixed time that render_reference.py gives strftime_now.</summary>
    public static DateTime Now { get; } = new(2026, 3, 14, 9, 26, 53);

    public static IEnumerable<string> TemplateNames => Models.Select(m => m.Key).Order(StringComparer.Ordinal);

    public static JsonObject Models { get; } = JsonNode.Parse(File.ReadAllText(Path.Combine(Directory, "models.json")))!.AsObject();

    public static string Source(string name) => File.ReadAllText(Path.Combine(Directory, "templates", name + ".jinja"));

    public static string ConversationsPath => Path.Combine(Directory, "conversations.jsonl");

    /// <summary>Each line of conversations.jsonl by its "id".</summary>
    public static IReadOnlyList<(string Id, JsonObject Line)> Conversations() =>
        File.ReadAllLines(ConversationsPath).Where(l => l.Trim().Length > 0)
            .Select(l => JsonNode.Parse(l)!.AsObject()).Select(o => (o["id"]!.GetValue<string>(), o)).ToList();

    /// <summary>expected/&lt;template&gt;.json: per conversation id, "full" and "prompt" renders, a string or {"error": …}.</summary>
    public static JsonObject Expected(string name) => JsonNode.Parse(File.ReadAllText(Path.Combine(Directory, "expected", name + ".json")))!.AsObject();

    public static string? Token(string name, string field) => Models[name]![field]?.GetValue<string>();

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var name in TemplateNames) data.Add(name);
        return data;
    }

    /// <summary>What a render gives: its text, or the message of the error that refused it.</summary>
    public static (string? Text, string? Error) Outcome(JsonNode node) => node is JsonValue value ? (value.GetValue<string>(), null) : (null, node["error"]!.GetValue<string>());
}
