using Engine.Tests.Support;
using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>`engine curate`'s bad input: one line naming the file, line, row or option, exit code 1, nothing written.</summary>
public sealed class CurateCliTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Row = """{"prompt": "What is 2 plus 2?", "completion": "2 plus 2 is 4.", "answer": "2 plus 2 is 4."}""";

    [Fact]
    public void A_malformed_prompt_line_is_named()
    {
        string prompts = _temp.File("prompts.jsonl", $"{Row}\n{{\"prompt\": \n");
        string model = CliRun.TinyModel(_temp.File("model"));
        CliRun.AssertError(CliRun.Run("curate", "distill", "--teacher", model, "--prompts", prompts, "--out", _temp.File("out.jsonl")), "prompts.jsonl:2: malformed JSON");
        Assert.False(File.Exists(_temp.File("out.jsonl")));
    }

    [Fact]
    public void An_existing_output_is_refused_without_resume_or_force()
    {
        string data = _temp.File("data.jsonl", Row + "\n");
        string output = _temp.File("out.jsonl", "keep me\n");
        CliRun.AssertError(CliRun.Run("curate", "filter", "--data", data, "--out", output), "out.jsonl exists", "--force");
        Assert.Equal("keep me\n", File.ReadAllText(output));
        Assert.Equal(0, CliRun.Run("curate", "filter", "--data", data, "--out", output, "--force").ExitCode);
        Assert.Equal(Row + "\n", File.ReadAllText(output));
    }

    [Fact]
    public void Filter_refuses_an_existing_explain_file_without_force()
    {
        string data = _temp.File("data.jsonl", Row + "\n");
        string explain = _temp.File("why.jsonl", "keep me\n");
        CliRun.AssertError(CliRun.Run("curate", "filter", "--data", data, "--out", _temp.File("out.jsonl"), "--explain", explain), "why.jsonl exists", "--force");
        Assert.Equal("keep me\n", File.ReadAllText(explain));
        Assert.False(File.Exists(_temp.File("out.jsonl")));
    }

    [Fact]
    public void Distill_refuses_an_existing_output_without_resume_or_force()
    {
        string prompts = _temp.File("prompts.jsonl", Row + "\n");
        string model = CliRun.TinyModel(_temp.File("model"));
        string output = _temp.File("out.jsonl", "keep me\n");
        string[] distill = ["curate", "distill", "--teacher", model, "--prompts", prompts, "--out", output, "--max-new-tokens", "3"];
        CliRun.AssertError(CliRun.Run(distill), "out.jsonl exists", "--resume", "--force");
        CliRun.AssertError(CliRun.Run([.. distill, "--resume", "--force"]), "give one");
        Assert.Equal("keep me\n", File.ReadAllText(output));
        Assert.Equal(0, CliRun.Run([.. distill, "--force"]).ExitCode);
        Assert.Contains("\"meta\"", Assert.Single(File.ReadAllLines(output)));
    }

    [Fact]
    public void Best_of_k_refuses_an_existing_output_or_rejected_file_without_force()
    {
        string prompts = _temp.File("prompts.jsonl", Row + "\n");
        string model = CliRun.TinyModel(_temp.File("model"));
        string output = _temp.File("out.jsonl"), rejected = _temp.File("rejected.jsonl", "keep me\n");
        string[] bestOfK = ["curate", "best-of-k", "--model", model, "--prompts", prompts, "--k", "2", "--max-new-tokens", "3", "--out", output, "--rejected", rejected];
        CliRun.AssertError(CliRun.Run(bestOfK), "rejected.jsonl exists", "--force");
        Assert.False(File.Exists(output));
        File.WriteAllText(output, "keep me too\n");
        CliRun.AssertError(CliRun.Run(bestOfK), "out.jsonl exists", "--force");
        Assert.DoesNotContain("--resume", CliRun.Run(bestOfK).Error);   // best-of-k cannot continue a file
        Assert.Equal(("keep me too\n", "keep me\n"), (File.ReadAllText(output), File.ReadAllText(rejected)));
        Assert.Equal(0, CliRun.Run([.. bestOfK, "--force"]).ExitCode);
        // A tiny untrained model: its 2 samples fail the exact answer, so the prompt is dropped and both samples are rejected.
        Assert.Equal((0, 2), (File.ReadAllLines(output).Length, File.ReadAllLines(rejected).Length));
    }

    [Fact]
    public void A_target_above_the_row_count_is_refused()
    {
        string data = _temp.File("data.jsonl", Row + "\n");
        CliRun.AssertError(CliRun.Run("curate", "filter", "--data", data, "--out", _temp.File("out.jsonl"), "--target", "5"), "--target 5", "1..1");
        Assert.False(File.Exists(_temp.File("out.jsonl")));
    }

    [Fact]
    public void K_below_one_is_refused()
    {
        string prompts = _temp.File("prompts.jsonl", Row + "\n");
        string model = CliRun.TinyModel(_temp.File("model"));
        CliRun.AssertError(CliRun.Run("curate", "best-of-k", "--model", model, "--prompts", prompts, "--k", "0", "--out", _temp.File("out.jsonl")), "--k is 0");
    }

    [Fact]
    public void A_verifier_spec_that_does_not_parse_names_its_row()
    {
        string prompts = _temp.File("prompts.jsonl", Row + "\n" + """{"prompt": "hi", "checks": [{"type": "numeric"}]}""" + "\n");
        string model = CliRun.TinyModel(_temp.File("model"));
        CliRun.AssertError(CliRun.Run("curate", "best-of-k", "--model", model, "--prompts", prompts, "--k", "2", "--out", _temp.File("out.jsonl")), "prompts.jsonl:2:", "numeric");
        Assert.False(File.Exists(_temp.File("out.jsonl")));
    }

    [Fact]
    public void A_teacher_with_another_tokenizer_is_allowed_and_said()
    {
        string prompts = _temp.File("prompts.jsonl", Row + "\n");
        string teacher = CliRun.TinyModel(_temp.File("teacher"));
        string student = CliRun.TinyModel(_temp.File("student"));
        // The student's vocabulary swaps the ids of "a" and "b".
        string json = File.ReadAllText(Path.Combine(student, "tokenizer.json"));
        File.WriteAllText(Path.Combine(student, "tokenizer.json"), json.Replace("\"a\": 97", "\"a\": -1").Replace("\"b\": 98", "\"b\": 97").Replace("\"a\": -1", "\"a\": 98"));
        Assert.False(Engine.Curation.Distiller.SameTokenizer(TokenizerLoader.FromDirectory(teacher).Tokenizer, TokenizerLoader.FromDirectory(student).Tokenizer));
        Assert.True(Engine.Curation.Distiller.SameTokenizer(TokenizerLoader.FromDirectory(teacher).Tokenizer, TokenizerLoader.FromDirectory(teacher).Tokenizer));
        var result = CliRun.Run("curate", "distill", "--teacher", teacher, "--student", student, "--prompts", prompts, "--out", _temp.File("out.jsonl"), "--max-new-tokens", "3");
        Assert.Equal(0, result.ExitCode);
        Assert.Single(File.ReadAllLines(_temp.File("out.jsonl")));
    }
}
