using Engine.Backends;
using Engine.Data;
using Engine.Generation;
using Engine.IO;
using Engine.Tokenizers;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Generation;

public class GenerationCommandsTests(TrainedChatModel trained) : IClassFixture<TrainedChatModel>
{
    [Fact]
    public void TheTrainedModelAnswersThroughTheGenerator()
    {
        using var backend = new CpuBackend();
        using var loaded = GenerationModel.Load(trained.Directory, backend);
        var template = loaded.ChatTemplate(null);
        Assert.EndsWith("tokenizer_config.json", template.Name);
        Assert.Equal(ByteChatTokenizer.ImEnd, template.EndOfTurnId);
        Assert.Equal(ByteChatTokenizer.ImEnd, loaded.EosId);
        var conversations = TrainedChatModel.Pairs.Select(c => (IReadOnlyList<ChatTurn>)[new ChatTurn(ChatRole.User, c.Question)]).ToList();
        var prompts = conversations.Select(c => (IReadOnlyList<int>)template.RenderPrompt(c)).ToList();
        var completions = Generator.Generate(loaded.Model, prompts, new SamplingOptions(MaxNewTokens: 20), [template.EndOfTurnId]);
        for (int i = 0; i < prompts.Count; i++)
        {
            Assert.Equal(template.EndOfTurnId, completions[i][^1]);
            Assert.Equal(TrainedChatModel.Pairs[i].Answer, template.Tokenizer.Decode(completions[i][..^1]));
        }
        Assert.Equal(TrainedChatModel.Pairs.Select(c => c.Answer), loaded.Reply(template, conversations, new SamplingOptions(Temperature: 1f, TopK: 1)));
    }

    [Fact]
    public void GenerateWritesEachPromptAndItsCompletion()
    {
        using var backend = new CpuBackend();
        using var loaded = GenerationModel.Load(trained.Directory, backend);
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
        using var loaded = GenerationModel.Load(trained.Directory, backend);
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
