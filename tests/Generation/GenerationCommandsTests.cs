using Engine.Backends.Cpu;
using Engine.Data;
using Engine.Generation;
using Engine.IO;
using Engine.Models;
using Engine.Tokenizers;
using Engine.Training;
using Xunit;
using Engine.Tests.Support;

namespace Engine.Tests.Generation;

/// <summary>A tiny chat model fine-tuned once (about a second) on three conversations and saved as a Hugging Face directory.</summary>
public sealed class TrainedChatModel : IDisposable
{
    public static readonly (string Question, string Answer)[] Conversations = [("hi", "hello!"), ("sky?", "blue"), ("cat?", "meow")];

    public TempDirectory Directory { get; } = new();

    public TrainedChatModel()
    {
        var tokenizer = new ByteChatTokenizer();
        var template = ChatTemplate.ByName("chatml", tokenizer);
        var examples = Conversations.Select(c => SftExample.Chat(new ChatTurn(ChatRole.User, c.Question), new ChatTurn(ChatRole.Assistant, c.Answer))).ToList();
        var data = SftDataset.FromExamples(examples, template, maxLen: 64);
        using var backend = new CpuBackend();
        var config = ModelConfig.Llama(tokenizer.VocabSize, contextLength: 64, layers: 2, dim: 32, heads: 2, kvHeads: 1, ffnDim: 64);
        using var model = new Transformer(backend, config, seed: 1);
        using var trainer = new Trainer(model, new OptimizerConfig(WeightDecay: 0), new LearningRateSchedule(ScheduleKind.Cosine, 1e-2f, 10, 150));
        for (int step = 0; step < 150; step++) trainer.Step(data.Epoch(step, rowsPerBatch: 4, seed: 1).ToList());
        HfCheckpoint.Save(model, Directory.Path);
        tokenizer.WriteHfFiles(Directory.Path);
    }

    public void Dispose() => Directory.Dispose();
}

public class GenerationCommandsTests(TrainedChatModel trained) : IClassFixture<TrainedChatModel>
{
    [Fact]
    public void TheTrainedModelAnswersThroughTheGenerator()
    {
        using var backend = new CpuBackend();
        using var loaded = GenerationModel.Load(trained.Directory.Path, backend);
        var template = loaded.ChatTemplate(null);
        Assert.EndsWith("tokenizer_config.json", template.Name);
        Assert.Equal(ByteChatTokenizer.ImEnd, template.EndOfTurnId);
        Assert.Equal(ByteChatTokenizer.ImEnd, loaded.EosId);
        var conversations = TrainedChatModel.Conversations.Select(c => (IReadOnlyList<ChatTurn>)[new ChatTurn(ChatRole.User, c.Question)]).ToList();
        var prompts = conversations.Select(c => (IReadOnlyList<int>)template.RenderPrompt(c)).ToList();
        var completions = Generator.Generate(loaded.Model, prompts, new SamplingOptions(MaxNewTokens: 20), [template.EndOfTurnId]);
        for (int i = 0; i < prompts.Count; i++)
        {
            Assert.Equal(template.EndOfTurnId, completions[i][^1]);
            Assert.Equal(TrainedChatModel.Conversations[i].Answer, template.Tokenizer.Decode(completions[i][..^1]));
        }
        Assert.Equal(TrainedChatModel.Conversations.Select(c => c.Answer), loaded.Reply(template, conversations, new SamplingOptions(Temperature: 1f, TopK: 1)));
    }

    [Fact]
    public void GenerateWritesEachPromptAndItsCompletion()
    {
        using var backend = new CpuBackend();
        using var loaded = GenerationModel.Load(trained.Directory.Path, backend);
        var output = new StringWriter();
        GenerationCommands.Generate(loaded, ["hi", "cat?"], loaded.ChatTemplate("chatml"), new SamplingOptions(MaxNewTokens: 20), output);
        Assert.Equal(string.Join(Environment.NewLine, "prompt:     hi", "completion: hello!", "", "prompt:     cat?", "completion: meow", ""), output.ToString());

        var raw = new StringWriter();
        GenerationCommands.Generate(loaded, ["<|im_start|>user\nsky?<|im_end|>\n<|im_start|>assistant\n"], null, new SamplingOptions(MaxNewTokens: 20), raw);
        Assert.EndsWith("completion: blue" + Environment.NewLine, raw.ToString());
    }

    [Fact]
    public void ChatAnswersEachUserLineWithTheConversationSoFar()
    {
        using var backend = new CpuBackend();
        using var loaded = GenerationModel.Load(trained.Directory.Path, backend);
        var output = new StringWriter();
        GenerationCommands.Chat(loaded, loaded.ChatTemplate(null), null, new SamplingOptions(MaxNewTokens: 20), new StringReader("hi\n\nsky?\n/exit\ncat?\n"), output);
        var replies = output.ToString().Split("assistant: ").Skip(1).Select(r => r.Split(Environment.NewLine)[0]).ToList();
        Assert.Equal(2, replies.Count);
        Assert.Equal("hello!", replies[0]);
        Assert.All(replies, r => Assert.NotEqual("", r));
    }

    [Fact]
    public void AMissingOrIncompleteDirectoryIsAClearError()
    {
        using var backend = new CpuBackend();
        using var empty = new TempDirectory();
        var missing = Assert.Throws<DirectoryNotFoundException>(() => GenerationModel.Load(Path.Combine(empty.Path, "absent"), backend));
        Assert.Contains("does not exist", missing.Message);
        Assert.Throws<FileNotFoundException>(() => GenerationModel.Load(empty.Path, backend));
        new ByteChatTokenizer().WriteHfFiles(empty.Path);
        Assert.Throws<CheckpointFormatException>(() => GenerationModel.Load(empty.Path, backend));
    }
}
