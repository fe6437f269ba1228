using System.Text.Json.Nodes;

namespace Engine.Data;

/// <summary>Who speaks a turn. <see cref="Tool"/> is a tool's result; <see cref="Text"/> is a plain-text example: no template, every token trained.</summary>
public enum ChatRole { System, User, Assistant, Tool, Text }

/// <summary>A function call an assistant turn makes.</summary>
/// <param name="Arguments">As the data gives them: a JSON object (what Hugging Face templates expect) or a JSON string.</param>
/// <param name="Id">The call's id, which the tool turn answering it repeats (Mistral's templates require 9 characters).</param>
public sealed record ToolCall(string Name, JsonNode Arguments, string? Id = null);

/// <summary>One turn. An assistant turn may carry its reasoning and tool calls; a tool turn the call it answers.</summary>
public sealed record ChatTurn(ChatRole Role, string Content)
{
    /// <summary>The assistant's reasoning before its answer (<c>reasoning_content</c>), rendered by the template (e.g. as &lt;think&gt;…&lt;/think&gt;).</summary>
    public string? Reasoning { get; init; }

    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }

    /// <summary>A tool turn's <c>tool_call_id</c>: the call it answers.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>A tool turn's <c>name</c>: the tool that answered.</summary>
    public string? Name { get; init; }
}

/// <summary>One training example: the turns of a conversation, or a single <see cref="ChatRole.Text"/> turn.</summary>
/// <param name="Origin">Where it came from, e.g. "train.jsonl:12", for messages about it.</param>
public sealed record SftExample(IReadOnlyList<ChatTurn> Turns, string Origin = "")
{
    /// <summary>The tools offered to the model (JSON schemas, as in Hugging Face's <c>tools</c> argument); null when none.</summary>
    public IReadOnlyList<JsonObject>? Tools { get; init; }

    /// <summary>Extra template variables (<c>chat_template_kwargs</c>, e.g. <c>enable_thinking: false</c>); null when none.</summary>
    public IReadOnlyDictionary<string, JsonNode?>? TemplateArguments { get; init; }

    public bool IsPlainText => Turns is [{ Role: ChatRole.Text }];

    public static SftExample Chat(params ChatTurn[] turns) => new(turns);

    public static SftExample PlainText(string text, string origin = "") => new([new ChatTurn(ChatRole.Text, text)], origin);
}
