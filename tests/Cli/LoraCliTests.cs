using Engine.Backends.Cpu;
using Engine.Data;
using Engine.Eval;
using Engine.Generation;
using Engine.IO;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>`engine sft --lora` writes a PEFT adapter and a summary; `engine generate --adapter` and `engine merge` accept it, and the
/// adapter attached and merged answer the same; LoRA options that cannot work are one-line errors.</summary>
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
        Assert.Equal((0, ""), Sft("--model", model, "--resume", Output, "--steps", "3"));
        Assert.Equal(3, FineTuneSummary.Read(Output).Steps);
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
