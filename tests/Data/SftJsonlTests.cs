using System.Text;
using Engine.Data;
using Xunit;
using Engine.Tests.Support;

namespace Engine.Tests.Data;

public class SftJsonlTests
{
    private const string AllFormats = """
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
        {"prompt": "Capital of France?", "completion": "Paris"}

        {"instruction": "Add.", "input": "1 and 2", "output": "3"}
        {"instruction": "Say hi.", "output": "hi", "input": ""}
        {"text": "Once upon a time."}
        """;

    private static List<SftExample> Parse(string text) => SftJsonl.Parse(new StringReader(text), "data.jsonl");

    private static DataFormatException Fails(string text) => Assert.Throws<DataFormatException>(() => Parse(text));

    [Fact]
    public void ReadsEveryFormat()
    {
        using var dir = new TempDirectory();
        var examples = SftJsonl.Read(dir.File("data.jsonl", AllFormats));
        Assert.Equal(5, examples.Count);
        Assert.Equal([ChatRole.System, ChatRole.User, ChatRole.Assistant, ChatRole.User, ChatRole.Assistant], examples[0].Turns.Select(t => t.Role));
        Assert.Equal("4", examples[0].Turns[4].Content);
        Assert.Equal([new ChatTurn(ChatRole.User, "Capital of France?"), new ChatTurn(ChatRole.Assistant, "Paris")], examples[1].Turns);
        Assert.Equal([new ChatTurn(ChatRole.User, "Add.\n\n1 and 2"), new ChatTurn(ChatRole.Assistant, "3")], examples[2].Turns);
        Assert.Equal("Say hi.", examples[3].Turns[0].Content);
        Assert.True(examples[4].IsPlainText);
        Assert.Equal("Once upon a time.", examples[4].Turns[0].Content);
        Assert.Equal("data.jsonl:4", examples[2].Origin);   // the blank line 3 is skipped but counted
    }

    [Fact]
    public void ReadsToolCallsToolTurnsToolsReasoningAndTemplateArguments()
    {
        const string line = """
            {"tools": [{"type": "function", "function": {"name": "add"}}], "chat_template_kwargs": {"enable_thinking": false}, "messages": [
             {"role": "user", "content": "17 + 25?"},
             {"role": "assistant", "content": null, "reasoning_content": "Use the tool.", "tool_calls": [{"id": "call00002", "type": "function", "function": {"name": "add", "arguments": {"a": 17, "b": 25}}}, {"function": {"name": "log", "arguments": "{}"}}]},
             {"role": "tool", "content": "42", "tool_call_id": "call00002", "name": "add"},
             {"role": "assistant", "content": "42."}]}
            """;
        var example = Parse(line.ReplaceLineEndings(""))[0];
        Assert.Equal([ChatRole.User, ChatRole.Assistant, ChatRole.Tool, ChatRole.Assistant], example.Turns.Select(t => t.Role));
        var call = example.Turns[1];
        Assert.Equal("", call.Content);
        Assert.Equal("Use the tool.", call.Reasoning);
        Assert.Equal(["add", "log"], call.ToolCalls!.Select(c => c.Name));
        Assert.Equal("{\"a\":17,\"b\":25}", call.ToolCalls![0].Arguments.ToJsonString());
        Assert.Equal("call00002", call.ToolCalls[0].Id);
        Assert.Equal("{}", call.ToolCalls[1].Arguments.GetValue<string>());
        Assert.Null(call.ToolCalls[1].Id);
        Assert.Equal(("42", "call00002", "add"), (example.Turns[2].Content, example.Turns[2].ToolCallId, example.Turns[2].Name));
        Assert.Equal("add", example.Tools![0]["function"]!["name"]!.GetValue<string>());
        Assert.False(example.TemplateArguments!["enable_thinking"]!.GetValue<bool>());
        Assert.Null(example.Turns[3].ToolCalls);
    }

    [Theory]
    [InlineData("{\"text\": \"a\"}\n{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}", 2, "malformed JSON")]
    [InlineData("{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}", 1, "unknown role \"bot\"")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": {}}]}", 1, "messages[0].tool_calls is not an array")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"name\": \"f\"}]}]}", 1, "messages[0].tool_calls[0] needs a \"function\" object")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": 3}}]}]}", 1, "\"messages[0].tool_calls[0].function.arguments\" must be an object or a string")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"type\": \"code\", \"function\": {\"name\": \"f\", \"arguments\": {}}}]}]}", 1, "type is \"code\", expected \"function\"")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\", \"reasoning_content\": 1}]}", 1, "\"messages[0].reasoning_content\" is Number")]
    [InlineData("{\"tools\": {}, \"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}]}", 1, "\"tools\" must be an array of objects")]
    [InlineData("{\"chat_template_kwargs\": [], \"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}]}", 1, "\"chat_template_kwargs\" must be an object")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", 1, "no assistant turn")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\"}]}", 1, "missing field \"messages[0].content\"")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"content\": 3}]}", 1, "\"messages[0].content\" is Number")]
    [InlineData("{\"messages\": []}", 1, "\"messages\" is empty")]
    [InlineData("\n\n{\"prompt\": \"x\"}", 3, "missing field \"completion\"")]
    [InlineData("{\"instruction\": \"x\"}", 1, "missing field \"output\"")]
    [InlineData("{\"question\": \"x\"}", 1, "no known format")]
    [InlineData("[1, 2]", 1, "expected a JSON object")]
    [InlineData("{\"text\": \"\\ud800\"}", 1, "not valid UTF-16")]
    public void ErrorsNameFileAndLine(string text, int line, string reason)
    {
        var error = Fails(text);
        Assert.Equal(line, error.Line);
        Assert.StartsWith($"data.jsonl:{line}: ", error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n  \n\t\n")]
    public void EmptyFileIsAnError(string text)
    {
        var error = Fails(text);
        Assert.Equal(0, error.Line);
        Assert.Contains("no examples", error.Message);
    }

    /// <summary>
    /// 300 random corruptions of a valid file (byte flips, truncations, deleted braces, inserted quotes and newlines):
    /// each must parse or throw a DataFormatException with the file's name, never another exception type.
    /// </summary>
    [Fact]
    public void CorruptedFilesParseOrFailCleanly()
    {
        using var dir = new TempDirectory();
        byte[] valid = Encoding.UTF8.GetBytes(AllFormats);
        var rng = new Random(4);
        int parsed = 0, rejected = 0;
        for (int trial = 0; trial < 300; trial++)
        {
            var bytes = valid.ToList();
            for (int edits = rng.Next(1, 4); edits > 0 && bytes.Count > 0; edits--)
            {
                int at = rng.Next(bytes.Count);
                switch (rng.Next(5))
                {
                    case 0: bytes[at] = (byte)rng.Next(256); break;
                    case 1: bytes.RemoveRange(at, bytes.Count - at); break;
                    case 2:
                        int brace = bytes.FindIndex(rng.Next(bytes.Count), b => b is (byte)'{' or (byte)'}' or (byte)'[' or (byte)']');
                        if (brace >= 0) bytes.RemoveAt(brace);
                        break;
                    case 3: bytes.Insert(at, (byte)"\"\n:,\\"[rng.Next(5)]); break;
                    default: bytes.RemoveAt(at); break;
                }
            }
            string path = Path.Combine(dir.Path, $"fuzz{trial}.jsonl");
            File.WriteAllBytes(path, [.. bytes]);
            try
            {
                SftJsonl.Read(path);
                parsed++;
            }
            catch (DataFormatException e)
            {
                Assert.StartsWith($"fuzz{trial}.jsonl:", e.Message);
                rejected++;
            }
        }
        Assert.Equal(300, parsed + rejected);
        Assert.True(rejected > 100, $"only {rejected} of 300 corruptions were rejected: the corruptions are too mild to test anything");
    }
}
