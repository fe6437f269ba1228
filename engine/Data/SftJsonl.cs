using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Data;

/// <summary>
/// Supervised fine-tuning examples from JSONL, one JSON object a line, in any of the formats
/// <c>{"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": "..."}, ...]}</c> (assistant turns may carry
/// <c>reasoning_content</c> and OpenAI-style <c>tool_calls</c>, tool turns <c>tool_call_id</c> and <c>name</c>; the line may
/// carry <c>tools</c> and <c>chat_template_kwargs</c>),
/// <c>{"prompt": "...", "completion": "..."}</c>, Alpaca's <c>{"instruction": "...", "input": "...", "output": "..."}</c>,
/// or <c>{"text": "..."}</c>. Blank lines are skipped; anything else that is wrong throws a <see cref="DataFormatException"/>
/// naming the file and line.
/// </summary>
public static class SftJsonl
{
    public static List<SftExample> Read(string path)
    {
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Parse(reader, Path.GetFileName(path));
    }

    /// <param name="file">Names the source in errors and in each example's Origin.</param>
    public static List<SftExample> Parse(TextReader reader, string file)
    {
        var examples = new List<SftExample>();
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            examples.Add(ParseLine(line, file, lineNumber));
        }
        if (examples.Count == 0) throw new DataFormatException(file, null, "no examples (the file is empty or only blank lines)");
        return examples;
    }

    /// <summary>One line's example (see <see cref="FromJson"/>).</summary>
    public static SftExample ParseLine(string line, string file, int lineNumber, bool requireAnswer = true)
        => ParseLine(System.Text.Encoding.UTF8.GetBytes(line), file, lineNumber, requireAnswer);

    /// <summary>One line's example from its UTF-8 bytes (what a file holds: no decoding to a string first).</summary>
    public static SftExample ParseLine(ReadOnlyMemory<byte> line, string file, int lineNumber, bool requireAnswer = true)
    {
        string at = lineNumber.ToString(CultureInfo.InvariantCulture);
        // The common row (plain messages) in one pass of a reader; any other row from its document.
        if (PlainMessages.TryRead(line.Span, requireAnswer) is { } turns) return new SftExample(turns, $"{file}:{at}");
        JsonDocument document;
        try { document = JsonDocument.Parse(line); }
        catch (JsonException e)
        {
            // The reader's message ends in "LineNumber: 0 | BytePositionInLine: N.", line 0 of this one-line document: the byte is kept, the 0 dropped.
            string reason = e.Message.Split(" LineNumber:")[0];
            string where = e.BytePositionInLine is { } position ? $" at byte {position + 1}" : "";
            throw new DataFormatException(file, lineNumber, $"malformed JSON{where}: {reason}", e);
        }
        using (document) return FromJson(document.RootElement, file, at, requireAnswer);
    }

    /// <summary>One record's example, whichever file it came from; maps prompt/completion and Alpaca onto a user turn and an assistant turn.</summary>
    /// <param name="at">Where the record is in <paramref name="file"/>, for errors and the example's Origin.</param>
    /// <param name="requireAnswer">false reads prompts (for generation): a conversation without an assistant turn, a prompt without a
    /// completion, an instruction without an output, and a text (as a user turn) are accepted.</param>
    public static SftExample FromJson(JsonElement root, string file, string at, bool requireAnswer = true)
    {
        string origin = $"{file}:{at}";
        DataFormatException Error(string reason) => new(file, at, reason);
        if (root.ValueKind != JsonValueKind.Object) throw Error($"expected a JSON object, found {root.ValueKind}");

        List<ChatTurn> Answered(string user, string answerField) =>
            requireAnswer || Has(root, answerField) ? [new ChatTurn(ChatRole.User, user), new ChatTurn(ChatRole.Assistant, Text(root, answerField, Error))] : [new ChatTurn(ChatRole.User, user)];
        if (root.TryGetProperty("messages", out var messages))
            return new SftExample(ReadMessages(messages, Error, requireAnswer), origin) { Tools = ReadTools(root, Error), TemplateArguments = ReadTemplateArguments(root, Error) };
        if (Has(root, "prompt") || (requireAnswer && Has(root, "completion"))) return new SftExample(Answered(Text(root, "prompt", Error), "completion"), origin);
        if (Has(root, "instruction") || (requireAnswer && Has(root, "output")))
        {
            string instruction = Text(root, "instruction", Error);
            bool hasInput = root.TryGetProperty("input", out var inputValue) && inputValue.ValueKind != JsonValueKind.Null;
            string input = hasInput ? Text(root, "input", Error) : "";
            string user = input.Length == 0 ? instruction : $"{instruction}\n\n{input}";
            return new SftExample(Answered(user, "output"), origin);
        }
        if (Has(root, "text"))
            return requireAnswer ? SftExample.PlainText(Text(root, "text", Error), origin) : new SftExample([new ChatTurn(ChatRole.User, Text(root, "text", Error))], origin);
        throw Error("no known format: expected \"messages\", \"prompt\"/\"completion\", \"instruction\"/\"output\" or \"text\"");
    }

    private static List<ChatTurn> ReadMessages(JsonElement messages, Func<string, DataFormatException> error, bool requireAnswer)
    {
        if (messages.ValueKind != JsonValueKind.Array) throw error("\"messages\" is not an array");
        var turns = new List<ChatTurn>();
        int index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            string at = $"messages[{index}]";
            if (message.ValueKind != JsonValueKind.Object) throw error($"{at} is not an object");
            string role = Text(message, "role", error, at + ".");
            var parsed = role switch
            {
                "system" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                "tool" => ChatRole.Tool,
                _ => throw error($"{at} has unknown role \"{role}\" (expected system, user, assistant or tool)"),
            };
            var calls = parsed == ChatRole.Assistant ? ReadToolCalls(message, at, error) : null;
            bool contentOptional = calls is not null && (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null);
            turns.Add(new ChatTurn(parsed, contentOptional ? "" : Text(message, "content", error, at + "."))
            {
                Reasoning = parsed == ChatRole.Assistant ? OptionalText(message, "reasoning_content", error, at + ".") : null,
                ToolCalls = calls,
                ToolCallId = parsed == ChatRole.Tool ? OptionalText(message, "tool_call_id", error, at + ".") : null,
                Name = parsed == ChatRole.Tool ? OptionalText(message, "name", error, at + ".") : null,
            });
            index++;
        }
        if (turns.Count == 0) throw error("\"messages\" is empty");
        if (requireAnswer && !turns.Any(t => t.Role == ChatRole.Assistant)) throw error("the conversation has no assistant turn, so nothing to train on");
        return turns;
    }

    /// <summary>OpenAI's form: <c>[{"id": …, "type": "function", "function": {"name": …, "arguments": {…} or "…"}}]</c>; null when absent.</summary>
    private static List<ToolCall>? ReadToolCalls(JsonElement message, string at, Func<string, DataFormatException> error)
    {
        if (!message.TryGetProperty("tool_calls", out var calls) || calls.ValueKind == JsonValueKind.Null) return null;
        if (calls.ValueKind != JsonValueKind.Array) throw error($"{at}.tool_calls is not an array");
        var parsed = new List<ToolCall>();
        foreach (var call in calls.EnumerateArray())
        {
            string where = $"{at}.tool_calls[{parsed.Count}]";
            if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
                throw error($"{where} needs a \"function\" object with \"name\" and \"arguments\"");
            if (OptionalText(call, "type", error, where + ".") is { } type && type != "function")
                throw error($"{where}.type is \"{type}\", expected \"function\"");
            if (!function.TryGetProperty("arguments", out var arguments) || arguments.ValueKind is not (JsonValueKind.Object or JsonValueKind.String))
                throw error($"field \"{where}.function.arguments\" must be an object or a string");
            parsed.Add(new ToolCall(Text(function, "name", error, where + ".function."), JsonNode.Parse(arguments.GetRawText())!, OptionalText(call, "id", error, where + ".")));
        }
        return parsed;
    }

    private static List<JsonObject>? ReadTools(JsonElement root, Func<string, DataFormatException> error)
    {
        if (!root.TryGetProperty("tools", out var tools) || tools.ValueKind == JsonValueKind.Null) return null;
        if (tools.ValueKind != JsonValueKind.Array || tools.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.Object))
            throw error("\"tools\" must be an array of objects (JSON schemas of the functions)");
        return tools.EnumerateArray().Select(t => JsonNode.Parse(t.GetRawText())!.AsObject()).ToList();
    }

    private static Dictionary<string, JsonNode?>? ReadTemplateArguments(JsonElement root, Func<string, DataFormatException> error)
    {
        if (!root.TryGetProperty("chat_template_kwargs", out var arguments) || arguments.ValueKind == JsonValueKind.Null) return null;
        if (arguments.ValueKind != JsonValueKind.Object) throw error("\"chat_template_kwargs\" must be an object");
        return arguments.EnumerateObject().ToDictionary(p => p.Name, p => JsonNode.Parse(p.Value.GetRawText()));
    }

    /// <summary>A string field that may be absent or null.</summary>
    private static string? OptionalText(JsonElement obj, string name, Func<string, DataFormatException> error, string prefix)
        => obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? Text(obj, name, error, prefix) : null;

    private static bool Has(JsonElement obj, string name) => obj.TryGetProperty(name, out _);

    private static string Text(JsonElement obj, string name, Func<string, DataFormatException> error, string prefix = "")
    {
        if (!obj.TryGetProperty(name, out var value)) throw error($"missing field \"{prefix}{name}\"");
        if (value.ValueKind != JsonValueKind.String) throw error($"field \"{prefix}{name}\" is {value.ValueKind}, expected a string");
        try { return value.GetString()!; }
        catch (InvalidOperationException e) { throw error($"field \"{prefix}{name}\" is not valid UTF-16 text ({e.Message})"); }
    }
}
