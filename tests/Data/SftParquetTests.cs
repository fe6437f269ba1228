using System.Text.Json;
using Engine.Data;
using Engine.Tests.Support;
using Parquet;
using Parquet.Schema;
using Xunit;

namespace Engine.Tests.Data;

/// <summary>
/// Parquet data files, written here with Parquet.Net in two-row row groups: every format reads back as the same examples as
/// the same rows written as JSONL, and each kind of bad file is refused naming the file and, where it has one, the row group and row.
/// </summary>
public sealed class SftParquetTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static DataField<string> Text(string name) => new(name);

    private static readonly ParquetSchema MessagesSchema = new(
        new DataField<long>("id"),
        new ListField("messages", new StructField("element",
            Text("role"), Text("content"), Text("reasoning_content"),
            new ListField("tool_calls", new StructField("element", Text("id"), Text("type"), new StructField("function", Text("name"), Text("arguments")))),
            Text("tool_call_id"), Text("name"))));

    private static Dictionary<string, object?> Turn(string role, string? content, string? reasoning = null,
        List<Dictionary<string, object?>>? calls = null, string? callId = null, string? name = null) => new()
    {
        ["role"] = role, ["content"] = content, ["reasoning_content"] = reasoning, ["tool_calls"] = calls, ["tool_call_id"] = callId, ["name"] = name,
    };

    private static List<Dictionary<string, object?>> Conversations() =>
    [
        new() { ["id"] = 0L, ["messages"] = new List<Dictionary<string, object?>> { Turn("system", "Be brief."), Turn("user", "Hi"), Turn("assistant", "Hello.") } },
        new() { ["id"] = 1L, ["messages"] = new List<Dictionary<string, object?>> { Turn("user", "2+2?"), Turn("assistant", "4", reasoning: "Two and two.") } },
        new()
        {
            ["id"] = 2L,
            ["messages"] = new List<Dictionary<string, object?>>
            {
                Turn("user", "Weather in Paris?"),
                Turn("assistant", null, calls: [new() { ["id"] = "call_1", ["type"] = "function", ["function"] = new Dictionary<string, object?> { ["name"] = "weather", ["arguments"] = "{\"city\": \"Paris\"}" } }]),
                Turn("tool", "Sunny.", callId: "call_1", name: "weather"),
                Turn("assistant", "Sunny."),
            },
        },
        new() { ["id"] = 3L, ["messages"] = new List<Dictionary<string, object?>> { Turn("user", "Bye"), Turn("assistant", "Bye!") } },
        new() { ["id"] = 4L, ["messages"] = new List<Dictionary<string, object?>> { Turn("user", "Thanks"), Turn("assistant", "You're welcome.") } },
    ];

    private static List<Dictionary<string, object?>> Rows(string[] columns, params string?[][] values)
        => values.Select(row => columns.Zip(row).ToDictionary(c => c.First, c => (object?)c.Second)).ToList();

    public static TheoryData<string> Formats => ["messages", "prompt", "alpaca", "text"];

    private static (ParquetSchema Schema, List<Dictionary<string, object?>> Rows) Format(string format) => format switch
    {
        "messages" => (MessagesSchema, Conversations()),
        "prompt" => (new ParquetSchema(Text("prompt"), Text("completion")),
            Rows(["prompt", "completion"], ["Capital of France?", "Paris"], ["1+1?", "2"], ["Colour of the sky?", "Blue"])),
        "alpaca" => (new ParquetSchema(Text("instruction"), Text("input"), Text("output")),
            Rows(["instruction", "input", "output"], ["Add.", "1 and 2", "3"], ["Say hi.", "", "hi"], ["Count to two.", null, "1, 2"], ["Negate.", "true", "false"], ["Echo.", "x", "x"])),
        _ => (new ParquetSchema(Text("text")), Rows(["text"], ["Once upon a time."], ["The end."], ["Again."])),
    };

    private string WriteParquet(string name, ParquetSchema schema, IEnumerable<Dictionary<string, object?>> rows)
        => ParquetFiles.Write(_temp.File(name), schema, rows, rowGroupSize: 2);

    /// <summary>Everything an example carries, as one string per turn, to compare two readings of it.</summary>
    private static string[] Describe(SftExample example) => example.Turns.Select(t =>
        $"{t.Role}|{t.Content}|{t.Reasoning}|{t.ToolCallId}|{t.Name}|" +
        string.Join(";", t.ToolCalls?.Select(c => $"{c.Id}:{c.Name}:{c.Arguments.ToJsonString()}") ?? [])).ToArray();

    [Theory]
    [MemberData(nameof(Formats))]
    public void ReadsAsTheSameRowsAsJsonl(string format)
    {
        var (schema, rows) = Format(format);
        string parquet = WriteParquet($"{format}.parquet", schema, rows);
        string jsonl = _temp.File($"{format}.jsonl", string.Concat(rows.Select(r => JsonSerializer.Serialize(r) + "\n")));

        var fromParquet = SftDataFile.Read(parquet);
        var fromJsonl = SftDataFile.Read(jsonl);

        Assert.Equal(rows.Count, fromParquet.Count);
        Assert.Equal(fromJsonl.Select(Describe), fromParquet.Select(Describe));
        Assert.Equal(Enumerable.Range(0, rows.Count).Select(i => $"{format}.parquet:row group {i / 2}, row {i % 2}"), fromParquet.Select(e => e.Origin));
    }

    [Fact]
    public void NestedMessagesKeepTheirToolCallsAndReasoning()
    {
        var examples = SftDataFile.Read(WriteParquet("chat.parquet", MessagesSchema, Conversations()));
        Assert.Equal("Two and two.", examples[1].Turns[1].Reasoning);
        var call = Assert.Single(examples[2].Turns[1].ToolCalls!);
        Assert.Equal(("call_1", "weather", "{\"city\": \"Paris\"}"), (call.Id, call.Name, call.Arguments.GetValue<string>()));
        Assert.Equal((ChatRole.Tool, "call_1", "weather"), (examples[2].Turns[2].Role, examples[2].Turns[2].ToolCallId, examples[2].Turns[2].Name));
    }

    private DataFormatException Fails(string path) => Assert.Throws<DataFormatException>(() => SftDataFile.Read(path));

    [Fact]
    public void AFileThatIsNotParquetIsRefused()
    {
        var error = Fails(_temp.File("train.parquet", "{\"text\": \"hello\"}\n"));
        Assert.Equal("train.parquet: not a Parquet file (it does not start with \"PAR1\")", error.Message);
    }

    [Fact]
    public void ATruncatedFileIsRefused()
    {
        var (schema, rows) = Format("prompt");
        byte[] bytes = File.ReadAllBytes(WriteParquet("whole.parquet", schema, rows));
        string path = _temp.File("cut.parquet");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Assert.StartsWith("cut.parquet: truncated Parquet file", Fails(path).Message);
    }

    [Fact]
    public async Task ACorruptRowGroupIsNamed()
    {
        var (schema, rows) = Format("text");
        string path = WriteParquet("corrupt.parquet", schema, rows);
        long offset;
        await using (var reader = await ParquetReader.CreateAsync(path))
            offset = reader.Metadata!.RowGroups[1].Columns[0].MetaData!.DataPageOffset;
        byte[] bytes = File.ReadAllBytes(path);
        Array.Fill(bytes, (byte)0xFF, (int)offset, 8);
        File.WriteAllBytes(path, bytes);

        var error = Fails(path);
        Assert.Equal("row group 1", error.At);
        Assert.StartsWith("corrupt.parquet:row group 1: unreadable: ", error.Message);
    }

    [Fact]
    public void AMissingColumnNamesTheRow()
    {
        string path = WriteParquet("prompts.parquet", new ParquetSchema(Text("prompt")), Rows(["prompt"], ["a"], ["b"]));
        Assert.Equal("prompts.parquet:row group 0, row 0: missing field \"completion\"", Fails(path).Message);
    }

    [Fact]
    public void ANullInALaterRowGroupNamesItsRow()
    {
        string path = WriteParquet("nulls.parquet", new ParquetSchema(Text("prompt"), Text("completion")),
            Rows(["prompt", "completion"], ["a", "b"], ["c", "d"], ["e", "f"], ["g", null]));
        Assert.Equal("nulls.parquet:row group 1, row 1: missing field \"completion\"", Fails(path).Message);
    }

    [Fact]
    public void AnUnknownRoleInNestedMessagesNamesTheRow()
    {
        var rows = Conversations();
        ((List<Dictionary<string, object?>>)rows[3]["messages"]!)[0]["role"] = "bot";
        Assert.StartsWith("chat.parquet:row group 1, row 1: messages[0] has unknown role \"bot\"", Fails(WriteParquet("chat.parquet", MessagesSchema, rows)).Message);
    }

    [Fact]
    public void ANumberColumnWhereTextBelongsIsRefused()
    {
        string path = WriteParquet("numbers.parquet", new ParquetSchema(new DataField<int>("prompt"), Text("completion")),
            [new() { ["prompt"] = 1, ["completion"] = "one" }]);
        Assert.Equal("numbers.parquet: column \"prompt\" is Int32, expected strings", Fails(path).Message);
    }

    [Fact]
    public void ABinaryTextColumnIsRefused()
    {
        string path = WriteParquet("binary.parquet", new ParquetSchema(new DataField<byte[]>("text")), [new() { ["text"] = (ReadOnlyMemory<byte>?)"hi"u8.ToArray() }]);
        Assert.Equal("binary.parquet: column \"text\" is binary, expected strings", Fails(path).Message);
    }

    [Fact]
    public void MessagesThatAreNotStructsAreRefused()
    {
        string path = WriteParquet("flat.parquet", new ParquetSchema(new ListField("messages", Text("element"))),
            [new() { ["messages"] = new ReadOnlyMemory<char>?[] { "hi".AsMemory(), "hello".AsMemory() } }]);
        Assert.StartsWith("flat.parquet: column \"messages\" is List, expected a list of structs", Fails(path).Message);
    }

    [Fact]
    public void AWronglyTypedMessageFieldIsRefused()
    {
        var schema = new ParquetSchema(new ListField("messages", new StructField("element", Text("role"), new DataField<int>("content"))));
        string path = WriteParquet("typed.parquet", schema,
            [new() { ["messages"] = new List<Dictionary<string, object?>> { new() { ["role"] = "assistant", ["content"] = 3 } } }]);
        Assert.Equal("typed.parquet: column \"messages.content\" is Int32, expected strings", Fails(path).Message);
    }

    [Fact]
    public void AFileWithoutRowsIsRefused()
    {
        string path = WriteParquet("empty.parquet", new ParquetSchema(Text("text")), []);
        Assert.Equal("empty.parquet: no examples (the file has no rows)", Fails(path).Message);
    }
}
