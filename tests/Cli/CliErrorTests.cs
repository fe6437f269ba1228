using Engine.Backends;
using Engine.Cli;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Support;
using Engine.Tokenizers;
using Parquet.Schema;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>`engine` in process: input the user can fix (bad data, a bad model directory, a bad option) ends with exit code 1
/// and one line `error: ...` naming the file, line or tensor at fault, never a stack trace; and a tiny sft run writes a model
/// directory that `engine generate` loads.</summary>
public sealed class CliErrorTests : IDisposable
{
    private const string Conversation = """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}]}""";

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void MalformedJsonNamesTheFileAndLine()
    {
        string data = _temp.File("bad.jsonl", $"{Conversation}\n{Conversation}\n{{\"messages\": [\n{Conversation}\n");
        var result = Sft("--data", data);
        CliRun.AssertError(result, "bad.jsonl:3: malformed JSON at byte 15: ");
        Assert.DoesNotContain("LineNumber", result.Error);
    }

    [Fact]
    public void AConversationWithoutAnAssistantTurnNamesItsLine()
    {
        string data = _temp.File("no-assistant.jsonl", $"{Conversation}\n" + """{"messages": [{"role": "user", "content": "hi"}]}""" + "\n");
        CliRun.AssertError(Sft("--data", data), "no-assistant.jsonl:2:", "no assistant turn");
    }

    [Fact]
    public void AnUnknownRoleNamesItsLineAndTheRole()
    {
        string data = _temp.File("roles.jsonl", """{"messages": [{"role": "bot", "content": "hi"}, {"role": "assistant", "content": "hello!"}]}""" + "\n");
        CliRun.AssertError(Sft("--data", data), "roles.jsonl:1:", "unknown role \"bot\"");
    }

    [Fact]
    public void AnEmptyDataFileIsNamed()
    {
        string data = _temp.File("empty.jsonl", "\n\n");
        CliRun.AssertError(Sft("--data", data), "empty.jsonl", "no examples");
    }

    [Fact]
    public void AMissingDataFileIsNamed()
    {
        string data = Path.Combine(_temp.Path, "missing.jsonl");
        CliRun.AssertError(Sft("--data", data), data);
    }

    [Fact]
    public void AModelDirectoryWithoutConfigJsonNamesTheMissingFile()
    {
        string model = Directory.CreateDirectory(Path.Combine(_temp.Path, "no-config")).FullName;
        CliRun.AssertError(Sft("--model", model, "--data", Data()), Path.Combine(model, "config.json"), "not found");
    }

    [Fact]
    public void ATokenizerLargerThanTheEmbeddingIsNamed()
    {
        string model = TinyModel("small-vocab", vocabSize: 200);
        CliRun.AssertError(Sft("--model", model, "--data", Data()), $"the tokenizer in {model} has 259 tokens", "embedding has 200 rows");
    }

    [Fact]
    public void ATruncatedSafetensorsFileNamesTheFileAndTensor()
    {
        string model = TinyModel("truncated");
        string weights = Path.Combine(model, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..^100]);
        CliRun.AssertError(Sft("--model", model, "--data", Data()), weights, "tensor '", "truncated");
    }

    [Fact]
    public void MaxLenOverTheContextIsNamed()
    {
        string model = TinyModel("context-64");
        CliRun.AssertError(Sft("--model", model, "--data", Data(), "--max-len", "128"), "--max-len 128 exceeds the model's context of 64");
    }

    [Fact]
    public void GenerateWithAMissingModelDirectoryNamesIt()
    {
        string missing = Path.Combine(_temp.Path, "missing");
        CliRun.AssertError(CliRun.Run("generate", "--model", missing, "--prompt", "hi", "--backend", "cpu"), missing, "does not exist");
    }

    [Fact]
    public void SftWritesAModelThatGenerateLoads()
    {
        string model = TinyModel("base");
        var sft = Sft("--model", model, "--data", Data(), "--eval-data", Data(), "--steps", "2", "--batch", "2", "--max-len", "64", "--eval-every", "1");
        Assert.Equal((0, ""), sft);
        Assert.True(File.Exists(Path.Combine(Output, "model", "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(Output, "model", "tokenizer.json")));
        // config.json's ids from the tokenizer (the base's config.json had none); the base's own generation_config.json kept.
        var ids = ModelMetadata.Of(Path.Combine(Output, "model"), SpecialTokenIds.None).Ids;
        Assert.Equal(new SpecialTokenIds(null, [ByteChatTokenizer.ImEnd], ByteChatTokenizer.EndOfText), ids);
        Assert.Equal(File.ReadAllText(Path.Combine(model, ModelMetadata.GenerationConfigFile)),
            File.ReadAllText(Path.Combine(Output, "model", ModelMetadata.GenerationConfigFile)));

        var generate = CliRun.Run("generate", "--model", Path.Combine(Output, "model"), "--prompt", "hi", "--chat", "--max-new-tokens", "4", "--backend", "cpu");
        Assert.Equal((0, ""), generate);
    }

    [Fact]
    public void ParquetDataThatIsNotParquetNamesTheFile()
        => CliRun.AssertError(Sft("--data", _temp.File("train.parquet", Conversation + "\n")), "train.parquet: not a Parquet file");

    [Fact]
    public void TruncatedParquetEvalDataNamesTheFile()
        => CliRun.AssertError(Sft("--data", Data(), "--eval-data", _temp.File("eval.parquet", "PAR1 and then nothing")), "eval.parquet: truncated Parquet file");

    [Fact]
    public void EvalReadsParquetDataAndNamesTheRowOfABadForgetFile()
    {
        string model = TinyModel("base");
        var conversation = new Dictionary<string, object?> { ["prompt"] = "hi", ["completion"] = "hello!" };
        string data = Parquet("data.parquet", new ParquetSchema(new DataField<string>("prompt"), new DataField<string>("completion")), conversation, conversation);
        string forget = Parquet("forget.parquet", new ParquetSchema(new DataField<string>("prompt")), conversation);
        Assert.Equal((0, ""), CliRun.Run("eval", "--model", model, "--data", data, "--backend", "cpu"));
        CliRun.AssertError(CliRun.Run("eval", "--model", model, "--data", data, "--forget-data", forget, "--backend", "cpu"),
            "forget.parquet:row group 0, row 0: missing field \"completion\"");
    }

    private string Parquet(string name, ParquetSchema schema, params IDictionary<string, object?>[] rows) => ParquetFiles.Write(_temp.File(name), schema, rows);

    private string Output => Path.Combine(_temp.Path, "run");

    /// <summary>engine sft on the CPU, with no pretraining of the built-in model, writing to Output.</summary>
    private (int ExitCode, string Error) Sft(params string[] args) => CliRun.Run(["sft", .. args, "--pretrain-steps", "0", "--backend", "cpu", "--out", Output]);

    /// <summary>Four one-turn conversations.</summary>
    private string Data() => _temp.File("data.jsonl", string.Concat(Enumerable.Repeat(Conversation + "\n", 4)));

    private string TinyModel(string name, int vocabSize = 259) => CliRun.TinyModel(Path.Combine(_temp.Path, name), vocabSize);
}
