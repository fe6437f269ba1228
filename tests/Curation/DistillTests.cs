using Engine.Curation;
using Engine.Generation;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Curation;

public sealed class DistillTests(TrainedChatModel trained) : TrainedChatModelTest(trained)
{
    private static readonly DistillSettings Settings = new("teacher", null, new SamplingOptions(Temperature: 0.8f, Seed: 3, MaxNewTokens: 12), SamplesPerPrompt: 2, Batch: 3);

    private List<CurationRow> Prompts()
    {
        // Every format the engine reads, with and without an answer (ignored).
        string lines = string.Join("\n",
            """{"prompt": "hi"}""", """{"messages": [{"role": "user", "content": "sky?"}]}""", """{"prompt": "cat?", "completion": "ignored", "answer": "meow"}""",
            """{"instruction": "hi"}""", """{"text": "sky?"}""", """{"messages": [{"role": "user", "content": "cat?"}, {"role": "assistant", "content": "old"}]}""");
        return CurationRows.Read(Temp.File("prompts.jsonl", lines + "\n"), requireAnswer: false);
    }

    private (List<string> Lines, DistillResult Result) Distill(string output, bool force, Func<int, bool> stopBeforeBatch)
    {
        using var model = Load();
        var (appender, existing) = CurationOutput.OpenForAppend(output, force);
        int batches = 0;
        using (appender)
        {
            var result = Distiller.Run(model, model.ChatTemplate(null), Prompts(), Settings, appender, existing, () => stopBeforeBatch(batches++));
            return (File.ReadAllLines(output).ToList(), result);
        }
    }

    [Fact]
    public void Rows_are_sft_conversations_with_provenance()
    {
        var (lines, result) = Distill(Temp.File("all.jsonl"), force: true, _ => false);
        Assert.Equal(12, lines.Count);
        Assert.Equal((12, 0, false), (result.Written, result.AlreadyThere, result.Stopped));
        var rows = CurationRows.Read(Temp.File("all.jsonl"));
        Assert.All(rows, r => Assert.Equal(Engine.Data.ChatRole.Assistant, r.Example.Turns[^1].Role));
        var third = System.Text.Json.Nodes.JsonNode.Parse(lines[4])!;
        Assert.Equal("prompts.jsonl:3", (string)third["meta"]!["source"]!);
        Assert.Equal(0, (int)third["meta"]!["sample"]!);
        Assert.Equal("meow", (string)third["answer"]!);
        Assert.Equal("teacher", (string)third["meta"]!["teacher"]!);
        Assert.Contains((string)third["meta"]!["finish"]!, new[] { "stop", "length" });
        Assert.True((int)third["meta"]!["completion_tokens"]! > 0);
        // The sixth prompt's old answer is not part of the prompt.
        Assert.Equal(2, System.Text.Json.Nodes.JsonNode.Parse(lines[10])!["messages"]!.AsArray().Count);
    }

    [Fact]
    public void An_interrupted_run_resumed_writes_what_an_uninterrupted_one_does()
    {
        var (whole, _) = Distill(Temp.File("whole.jsonl"), force: true, _ => false);
        string output = Temp.File("interrupted.jsonl");
        var (partial, stopped) = Distill(output, force: true, batch => batch >= 2);
        Assert.True(stopped.Stopped);
        Assert.Equal(6, partial.Count);
        // A kill during the next batch's write leaves a partial line: resuming cuts it off.
        File.AppendAllText(output, whole[6][..20]);
        var (resumed, result) = Distill(output, force: false, _ => false);
        Assert.Equal((6, 6), (result.Written, result.AlreadyThere));
        Assert.Equal(whole, resumed);
    }
}
