using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Data;

namespace Engine.Curation;

/// <summary>Writes SFT JSONL rows in the <c>messages</c> format every reader of the engine (and TRL, Axolotl) accepts.</summary>
public static class SftRowJson
{
    private static readonly JsonSerializerOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>{"messages": [{"role", "content"}, ...]} and then the extra fields, in order.</summary>
    public static JsonObject Row(IEnumerable<ChatTurn> turns, params (string Name, JsonNode? Value)[] extra)
    {
        var row = new JsonObject { ["messages"] = new JsonArray(turns.Select(Message).ToArray<JsonNode?>()) };
        foreach (var (name, value) in extra) row[name] = value;
        return row;
    }

    /// <summary>One line of JSONL.</summary>
    public static string Line(JsonNode row) => row.ToJsonString(Options);

    private static JsonObject Message(ChatTurn turn) => new()
    {
        ["role"] = turn.Role switch
        {
            ChatRole.System => "system",
            ChatRole.User => "user",
            ChatRole.Assistant => "assistant",
            _ => throw new ArgumentException("a plain-text turn has no chat role to write"),
        },
        ["content"] = turn.Content,
    };
}
