using System.Text;
using Engine.Curation;
using Engine.Data;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Curation;

/// <summary>CurationRows reads a file's bytes line by line, as SftJsonl reads its text.</summary>
public class CurationRowsTests
{
    private const string Chat = """{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6"}]}""";
    private const string Completion = """{"prompt": "Capital of France?", "completion": "Paris"}""";

    [Fact]
    public void Skips_a_byte_order_mark_carriage_returns_and_blank_lines_and_counts_every_line()
    {
        using var dir = new TempDirectory();
        string path = dir.File("rows.jsonl");
        File.WriteAllBytes(path, [.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes($"{Chat}\r\n\r\n  \t\n{Completion}")]);
        var rows = CurationRows.Read(path);
        Assert.Equal([1, 4], rows.Select(r => r.Line));
        Assert.Equal([Chat, Completion], rows.Select(r => r.Json));
        Assert.Equal(SftJsonl.Read(path).Select(e => e.Turns), rows.Select(r => r.Example.Turns));
        Assert.Equal("rows.jsonl:4", rows[1].Where);
    }

    [Fact]
    public void The_prompt_is_every_turn_before_the_last_answer_and_the_response_that_answer()
    {
        using var dir = new TempDirectory();
        var row = CurationRows.Read(dir.File("rows.jsonl", Chat + "\n"))[0];
        Assert.Equal(row.Example.Turns.Take(4), row.Prompt);
        Assert.Equal("6", row.Response);
        Assert.Equal("2+2?\nAnd 3+3?", row.PromptText);
        var prompt = CurationRows.Read(dir.File("prompt.jsonl", """{"messages": [{"role": "user", "content": "Hi"}]}""" + "\n"), requireAnswer: false)[0];
        Assert.Equal(("", "Hi", 1), (prompt.Response, prompt.PromptText, prompt.Prompt.Count));
        var text = CurationRows.Read(dir.File("text.jsonl", """{"text": "Once upon a time."}""" + "\n"))[0];
        Assert.Equal(("Once upon a time.", "", 0), (text.Response, text.PromptText, text.Prompt.Count));
    }

    [Fact]
    public void The_lowest_malformed_line_is_named()
    {
        using var dir = new TempDirectory();
        string path = dir.File("bad.jsonl", $"{Chat}\n{{\"messages\": [\n{Completion}\n{{\"question\": 1}}\n");
        var error = Assert.Throws<DataFormatException>(() => CurationRows.Read(path));
        Assert.StartsWith("bad.jsonl:2: malformed JSON", error.Message);
    }

    /// <summary>The filter's words of a row, read from a plain row's bytes (its strings decoded into reused buffers) or from any other
    /// row's parsed turns, are the words of its prompt text and response.</summary>
    [Fact]
    public void The_filter_reads_each_rows_words_as_the_words_of_its_prompt_text_and_response()
    {
        using var dir = new TempDirectory();
        string longAnswer = string.Join(" ", Enumerable.Range(0, 400).Select(i => $"w\u00e9rd{i}")) + ".";
        string[] lines =
        [
            Chat,
            Completion,
            $$"""{"messages": [{"role": "user", "content": "{{longAnswer}}"}, {"role": "assistant", "content": "{{longAnswer}}"}]}""",
            """{"messages": [{"content": "Tab\tnew\nline \"quoted\" caf\u00e9", "role": "user"}, {"role": "assistant", "content": "ok"}], "meta": {"finish": "stop"}}""",
            """{"instruction": "Name a colour.", "input": "Not red.", "output": "Blue."}""",
            """{"text": "Once upon a time, a plain text."}""",
            """{"messages": [{"role": "user", "content": "A prompt"}, {"role": "user", "content": "without an answer"}]}""",
            """{"messages": [{"role": "system", "content": "S"}, {"role": "assistant", "content": "Only an answer."}]}""",
        ];
        // As training rows (the text row is plain text) and as prompts (it is a user turn; a conversation may lack an answer).
        var rows = CurationRows.Read(dir.File("rows.jsonl", string.Join("\n", lines[..^2]) + "\n"))
            .Concat(CurationRows.Read(dir.File("prompts.jsonl", string.Join("\n", lines) + "\n"), requireAnswer: false)).ToList();
        Assert.Contains(rows, r => r.Example.IsPlainText);
        var words = new RowWords();
        foreach (var row in rows.Concat(Enumerable.Reverse(rows)))   // a long row before and after short ones: the buffers are reused
        {
            words.Read(row);
            var prompt = TextFeatures.Words(row.PromptText);
            Assert.Equal([.. prompt, .. TextFeatures.Words(row.Response)], words.All.ToArray());
            Assert.Equal(prompt, words.Prompt.ToArray());
            Assert.Equal(row.Response, words.Response.ToString());
        }
    }
}
