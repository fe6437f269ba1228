using Engine.Backends;
using Engine.Data;
using Engine.Eval;
using Engine.Generation;
using Engine.IO;
using Engine.Tests.Support;
using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>`engine sft --lora` writes a PEFT adapter and a summary; `engine generate --adapter`, `engine eval --adapter` and `engine merge`
/// accept it, and the adapter attached and merged answer the same; LoRA options that cannot work are one-line errors.</summary>
public sealed class LoraCliTests : IDisposable
{
    private const string Conversation = """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}]}""";

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Output => Path.Combine(_temp.Path, "run");

    private (int ExitCode, string Error) Sft(params string[] args) =>
        CliRun.Run(["sft", .. args, "--data", Data(), "--eval-data", Data(), "--batch", "2", "--max-len", "64", "--backend", "cpu", "--out", Output]);

    private string Data() => _temp.File("data.jsonl", string.Concat(Enumerable.Repeat(Conversation + "\n", 4)));

    [Fact]
    public void SftLoraWritesAnAdapterThatGenerateAndMergeAgreeOn()
    {
        string model = CliRun.TinyModel(Path.Combine(_temp.Path, "base"));
        Assert.Equal((0, ""), Sft("--model", model, "--lora", "--lora-r", "4", "--lora-dropout", "0.1", "--steps", "3", "--lr", "0.05", "--eval-every", "3"));

        string adapter = Path.Combine(Output, "adapter");
        Assert.True(File.Exists(Path.Combine(adapter, PeftAdapter.ConfigFile)));
        Assert.True(File.Exists(Path.Combine(adapter, PeftAdapter.WeightsFile)));
        Assert.False(Directory.Exists(Path.Combine(Output, "model")));
        Assert.Equal(model, PeftAdapter.BaseModelDirectory(adapter));
        var summary = FineTuneSummary.Read(Output);
        Assert.Equal("LoRA r=4", summary.Method);
        Assert.Equal(3, summary.Steps);
        Assert.True(summary.Memory.TrainableParameters < summary.Memory.Parameters / 4);

        Assert.Equal((0, ""), CliRun.Run("generate", "--model", model, "--adapter", adapter, "--prompt", "hi", "--chat", "--max-new-tokens", "4", "--backend", "cpu"));
        string merged = Path.Combine(_temp.Path, "merged");
        Assert.Equal((0, ""), CliRun.Run("merge", "--model", model, "--adapter", adapter, "--out", merged));
        Assert.True(File.Exists(Path.Combine(merged, "tokenizer.json")));
        Assert.Equal([ByteChatTokenizer.ImEnd], ModelMetadata.Of(merged, SpecialTokenIds.None).Ids.Eos);
        Assert.Equal((0, ""), CliRun.Run("eval", "--model", model, "--adapter", adapter, "--data", Data(), "--forget-data", Data(), "--exact-match", "2", "--backend", "cpu", "--out", Path.Combine(_temp.Path, "eval")));
        string missing = Path.Combine(_temp.Path, "missing.jsonl");
        CliRun.AssertError(CliRun.Run("eval", "--model", merged, "--data", missing, "--backend", "cpu", "--out", Path.Combine(_temp.Path, "eval")), missing);

        using var backend = new CpuBackend();
        using var attached = GenerationModel.Load(model, backend, adapter);
        using var folded = GenerationModel.Load(merged, backend);
        IReadOnlyList<IReadOnlyList<ChatTurn>> prompts = [[new ChatTurn(ChatRole.User, "hi")], [new ChatTurn(ChatRole.User, "hello there")]];
        var options = new SamplingOptions(MaxNewTokens: 12);
        Assert.Equal(attached.Reply(attached.ChatTemplate(null), prompts, options), folded.Reply(folded.ChatTemplate(null), prompts, options));
    }

    [Fact]
    public void ALoraRunResumesFromItsAdapterCheckpoint()
    {
        string model = CliRun.TinyModel(Path.Combine(_temp.Path, "base"));
        Assert.Equal((0, ""), Sft("--model", model, "--lora", "--steps", "2", "--save-every", "2"));
        string checkpoint = Path.Combine(Output, "checkpoint-2");
        Assert.True(PeftAdapter.IsAdapter(checkpoint));
        Assert.False(File.Exists(Path.Combine(checkpoint, "model.safetensors")));
        var first = FineTuneSummary.Read(Output);

        // The base comes from the adapter's record; other LoRA settings, another base or another seed are refused.
        CliRun.AssertError(Sft("--resume", Output, "--steps", "3", "--lora", "--lora-r", "16"), "checkpoint-2 holds a LoRA adapter with r=8", "without other --lora options");
        string other = CliRun.TinyModel(Path.Combine(_temp.Path, "other"));
        CliRun.AssertError(Sft("--model", other, "--resume", Output, "--steps", "3"), $"holds a LoRA adapter of {model}, not of --model {other}");
        CliRun.AssertError(Sft("--resume", Output, "--steps", "3", "--seed", "2"), "was trained with --seed 1");

        Assert.Equal((0, ""), Sft("--resume", Output, "--steps", "3"));
        var resumed = FineTuneSummary.Read(Output);
        Assert.Equal(3, resumed.Steps);
        Assert.Equal(first.TargetLossBefore, resumed.TargetLossBefore); // the gain is against the model the run started from
    }

    [Fact]
    public void TheBuiltInBaseIsWrittenOnceAndResumedFrom()
    {
        var args = new[] { "--lora", "--steps", "1", "--save-every", "1", "--pretrain-steps", "2", "--data", Data(), "--eval-data", Data() };
        Assert.Equal((0, ""), CliRun.Run(["sft", .. args, "--batch", "2", "--max-len", "64", "--backend", "cpu", "--out", Output]));
        string baseDir = Path.Combine(Output, "base");
        Assert.True(File.Exists(Path.Combine(baseDir, "model.safetensors")));
        Assert.Equal(Path.GetFullPath(baseDir), PeftAdapter.BaseModelDirectory(Path.Combine(Output, "checkpoint-1")));
        Assert.Equal(Path.GetFullPath(baseDir), PeftAdapter.BaseModelDirectory(Path.Combine(Output, "adapter")));
        var first = FineTuneSummary.Read(Output);
        Assert.False(double.IsNaN(first.OtherLossBefore));
        // the built-in model is scored on the built-in eval suite before and after
        string[] tasks = ["tinychat", "tinychat-loss", "instructions", "stories"];
        Assert.Equal(tasks, first.SuiteBefore!.Keys);
        Assert.Equal(tasks, first.SuiteAfter!.Keys);
        Assert.InRange(first.SuiteBefore["stories"]["loss"] - first.OtherLossBefore, -1e-3, 1e-3); // per story, not packed: the same up to rounding

        Assert.Equal((0, ""), CliRun.Run(["sft", "--resume", Output, "--steps", "2", "--data", Data(), "--eval-data", Data(), "--batch", "2", "--max-len", "64", "--backend", "cpu", "--out", Output]));
        var resumed = FineTuneSummary.Read(Output);
        Assert.Equal(2, resumed.Steps);
        Assert.Equal(first.OtherLossBefore, resumed.OtherLossBefore);
        Assert.Equal(first.SuiteBefore["instructions"], resumed.SuiteBefore!["instructions"]); // the before-scores travel in the checkpoint
        Assert.False(double.IsNaN(resumed.OtherLossAfter));
    }

    [Fact]
    public void LoraOptionsWithoutLoraAreAnError()
    {
        string model = CliRun.TinyModel(Path.Combine(_temp.Path, "base"));
        CliRun.AssertError(Sft("--model", model, "--lora-r", "16", "--steps", "1"), "--lora-r configure LoRA: add --lora");
    }

    [Fact]
    public void TargetsTheModelDoesNotHaveAreOneLineErrors()
    {
        string model = CliRun.TinyModel(Path.Combine(_temp.Path, "base"));
        CliRun.AssertError(Sft("--model", model, "--lora", "--lora-targets", "c_attn", "--steps", "1"), "LoRA targets c_attn match no linear module", "q_proj");
        CliRun.AssertError(Sft("--model", model, "--lora", "--lora-r", "0", "--steps", "1"), "LoRA rank 0 must be positive");
    }

    [Fact]
    public void MergeOfAMissingAdapterNamesIt()
    {
        string model = CliRun.TinyModel(Path.Combine(_temp.Path, "base"));
        string missing = Path.Combine(_temp.Path, "no-adapter");
        Directory.CreateDirectory(missing);
        CliRun.AssertError(CliRun.Run("merge", "--model", model, "--adapter", missing, "--out", Path.Combine(_temp.Path, "m")), missing, PeftAdapter.ConfigFile);
    }
}
