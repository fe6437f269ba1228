using System.Text.Json;

namespace Engine.Data;

/// <summary>
/// Supervised fine-tuning examples from JSONL, one JSON object a line, in any of the formats
/// <c>{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}</c>,
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
        if (examples.Count == 0) throw new DataFormatException(file, 0, "no examples (the file is empty or only blank lines)");
        return examples;
    }

    /// <summary>One line's example; maps prompt/completion and Alpaca onto a user turn and an assistant turn.</summary>
    /// <param name="requireAnswer">false reads prompts (for generation): a conversation without an assistant turn, a prompt without a
    /// completion, an instruction without an output, and a text (as a user turn) are accepted.</param>
    public static SftExample ParseLine(string line, string file, int lineNumber, bool requireAnswer = true)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(line); }
        catch (JsonException e)
        {
            // The reader's message ends in "LineNumber: 0 | BytePositionInLine: N.", line 0 of this one-line document: the byte is kept, the 0 dropped.
            string reason = e.Message.Split(" LineNumber:")[0];
            string where = e.BytePositionInLine is { } position ? $" at byte {position + 1}" : "";
            throw new DataFormatException(file, lineNumber, $"malformed JSON{where}: {reason}", e);
        }
        using (document)
        {
            var root = document.RootElement;
            string origin = $"{file}:{lineNumber}";
            DataFormatException Error(string reason) => new(file, lineNumber, reason);
            if (root.ValueKind != JsonValueKind.Object) throw Error($"expected a JSON object, found {root.ValueKind}");

            List<ChatTurn> Answered(string user, string answerField) =>
                requireAnswer || Has(root, answerField) ? [new ChatTurn(ChatRole.User, user), new ChatTurn(ChatRole.Assistant, Text(root, answerField, Error))] : [new ChatTurn(ChatRole.User, user)];
            if (root.TryGetProperty("messages", out var messages)) return new SftExample(ReadMessages(messages, Error, requireAnswer), origin);
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
    }

    private static List<ChatTurn> ReadMessages(JsonElement messages, Func<string, DataFormatException> error, bool requireAnswer)
    {
        if (messages.ValueKind != JsonValueKind.Array) throw error("\"messages\" is not an array");
        var turns = new List<ChatTurn>();
        int index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object) throw error($"messages[{index}] is not an object");
            string role = Text(message, "role", error, $"messages[{index}].");
            var parsed = role switch
            {
                "system" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                _ => throw error($"messages[{index}] has unknown role \"{role}\" (expected system, user or assistant)"),
            };
            turns.Add(new ChatTurn(parsed, Text(message, "content", error, $"messages[{index}].")));
            index++;
        }
        if (turns.Count == 0) throw error("\"messages\" is empty");
        if (requireAnswer && !turns.Any(t => t.Role == ChatRole.Assistant)) throw error("the conversation has no assistant turn, so nothing to train on");
        return turns;
    }

    private static bool Has(JsonElement obj, string name) => obj.TryGetProperty(name, out _);

    private static string Text(JsonElement obj, string name, Func<string, DataFormatException> error, string prefix = "")
    {
        if (!obj.TryGetProperty(name, out var value)) throw error($"missing field \"{prefix}{name}\"");
        if (value.ValueKind != JsonValueKind.String) throw error($"field \"{prefix}{name}\" is {value.ValueKind}, expected a string");
        try { return value.GetString()!; }
        catch (InvalidOperationException e) { throw error($"field \"{prefix}{name}\" is not valid UTF-16 text ({e.Message})"); }
    }
}
