using System.Text;
using System.Text.Json;
using Engine.Data;
using Xunit;

namespace Engine.Tests.Data;

/// <summary>The one-pass reader of plain message rows (and its check that decodes without keeping strings) agrees with SftJsonl's document reader on every row it accepts, and leaves the rest to it.</summary>
public class PlainMessagesTests
{
    private static List<ChatTurn>? Fast(string line, bool requireAnswer = true) => PlainMessages.TryRead(Encoding.UTF8.GetBytes(line), requireAnswer);

    /// <summary>The document reader's turns (the reference), or null where it throws.</summary>
    private static IReadOnlyList<ChatTurn>? FromDocument(byte[] line, bool requireAnswer = true)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            return SftJsonl.FromJson(document.RootElement, "t.jsonl", "1", requireAnswer).Turns;
        }
        catch (Exception e) when (e is JsonException or DataFormatException) { return null; }
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"What is 2 plus 3?"},{"role":"assistant","content":"2 plus 3 is 5."}]}""")]
    [InlineData("""{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello."},{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}],"noise":"clean"}""")]
    [InlineData("""  { "answer": "5", "checks": [{"type": "exact"}], "messages" : [ {"content": "tab\tquote\" \u00e9\u4e2d \ud83d\ude00 \\n", "role": "user"}, {"content": "", "role": "assistant"} ], "meta": {"finish": "length", "n": [1, {"a": null}]} }  """)]
    [InlineData("""{"mess\u0061ges":[{"r\u006fle":"\u0075ser","content":"escaped keys"},{"role":"assistant","content":"ok."}]}""")]
    public void Accepts_plain_rows_with_the_turns_the_document_reader_gives(string line)
    {
        var turns = Fast(line);
        Assert.NotNull(turns);
        Assert.True(PlainMessages.Accepts(Encoding.UTF8.GetBytes(line), requireAnswer: true));
        Assert.Equal(FromDocument(Encoding.UTF8.GetBytes(line)), turns);
    }

    [Theory]
    [InlineData("""{"prompt": "x", "completion": "y"}""")]                                                                   // another format
    [InlineData("""{"text": "x"}""")]
    [InlineData("""{"tools": [], "messages": [{"role": "assistant", "content": "a"}]}""")]                                   // fields only the document reader reads
    [InlineData("""{"messages": [{"role": "assistant", "content": "a"}], "chat_template_kwargs": {}}""")]
    [InlineData("""{"messages": [{"role": "assistant", "content": null, "tool_calls": []}]}""")]
    [InlineData("""{"messages": [{"role": "assistant", "content": "a", "reasoning_content": "r"}]}""")]
    [InlineData("""{"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "42"}, {"role": "assistant", "content": "a"}]}""")]
    [InlineData("""{"messages": [{"role": "bot", "content": "x"}]}""")]                                                       // errors: the document reader names them
    [InlineData("""{"messages": [{"role": "assistant", "content": 3}]}""")]
    [InlineData("""{"messages": [{"role": "assistant"}]}""")]
    [InlineData("""{"messages": [{"role": "assistant", "role": "user", "content": "x"}]}""")]                               // repeated keys
    [InlineData("""{"messages": [{"role": "assistant", "content": "a"}], "messages": []}""")]
    [InlineData("""{"messages": []}""")]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}]}""")]                                                     // no answer
    [InlineData("""{"messages": ["user"]}""")]
    [InlineData("""{"messages": [{"role": "assistant", "content": "a"}]} x""")]                                             // malformed
    [InlineData("""{"messages": [{"role": "assistant", "content": "a"}]""")]
    [InlineData("""{"messages": [{"role": "assistant", "content": "\ud800"}]}""")]                                           // not UTF-16
    [InlineData("""[{"role": "assistant", "content": "a"}]""")]
    public void Leaves_every_other_row_to_the_document_reader(string line)
    {
        Assert.Null(Fast(line));
        Assert.False(PlainMessages.Accepts(Encoding.UTF8.GetBytes(line), requireAnswer: true));
    }

    [Fact]
    public void A_conversation_without_an_answer_is_a_prompt_when_no_answer_is_required()
    {
        const string line = """{"messages": [{"role": "user", "content": "x"}]}""";
        Assert.Equal([new ChatTurn(ChatRole.User, "x")], Fast(line, requireAnswer: false));
        Assert.Equal(SftJsonl.ParseLine(line, "t.jsonl", 1, requireAnswer: false).Turns, Fast(line, requireAnswer: false));
    }

    /// <summary>2,000 random corruptions of plain rows: whatever the one-pass reader accepts, the document reader accepts with the same turns.</summary>
    [Fact]
    public void Agrees_with_the_document_reader_on_corrupted_rows()
    {
        byte[] valid = Encoding.UTF8.GetBytes("""{"messages": [{"role": "user", "content": "Hi \"you\" \u00e9"}, {"role": "assistant", "content": "Hello."}], "meta": {"k": [1, 2]}}""");
        const string Syntax = " \"{}[]:,\\aeu0";
        var rng = new Random(11);
        int accepted = 0;
        for (int trial = 0; trial < 2000; trial++)
        {
            var bytes = valid.ToList();
            for (int edits = rng.Next(1, 3); edits > 0 && bytes.Count > 0; edits--)
            {
                int at = rng.Next(bytes.Count);
                switch (rng.Next(4))
                {
                    case 0: bytes[at] = (byte)Syntax[rng.Next(Syntax.Length)]; break;
                    case 1: bytes.RemoveAt(at); break;
                    case 2: bytes.Insert(at, (byte)Syntax[rng.Next(Syntax.Length)]); break;
                    default: bytes[at] = (byte)rng.Next(256); break;
                }
            }
            byte[] line = [.. bytes];
            var read = PlainMessages.TryRead(line, requireAnswer: true);
            Assert.Equal(read is not null, PlainMessages.Accepts(line, requireAnswer: true));
            if (read is not { } turns) continue;
            accepted++;
            Assert.Equal(FromDocument(line), turns);
        }
        Assert.InRange(accepted, 50, 1950);   // both branches are exercised
    }
}
