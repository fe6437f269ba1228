using Engine.Data;
using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Data;

public class TinyChatTests
{
    private static string Key(SftExample e) => string.Join("|", e.Turns.Select(t => $"{t.Role}:{t.Content}"));

    [Fact]
    public void DeterministicVariedAndTrainable()
    {
        var train = TinyChat.TrainSet();
        Assert.Equal(400, train.Count);
        Assert.Equal(train.Select(Key), TinyChat.TrainSet().Select(Key));
        Assert.All(train, e => Assert.Contains(e.Turns, t => t.Role == ChatRole.Assistant));
        string all = string.Join("\n", train.Select(Key));
        foreach (string kind in new[] { " plus ", " minus ", "How many", "capital of", "Reverse the word", "letters", TinyChat.SystemPrompt })
            Assert.Contains(kind, all);
        Assert.Contains("User:Reverse the word apple.|Assistant:elppa", string.Join("|", TinyChat.Generate(2000, 5).Select(Key)));
    }

    [Fact]
    public void HeldOutIsDisjointFromTraining()
    {
        var trainKeys = TinyChat.TrainSet().Select(Key).ToHashSet();
        var heldOut = TinyChat.HeldOutSet();
        Assert.Equal(64, heldOut.Count);
        Assert.DoesNotContain(heldOut, e => trainKeys.Contains(Key(e)));
    }

    [Fact]
    public void RendersShortWithTheByteTokenizer()
    {
        var template = ChatTemplate.ByName("chatml", new ByteChatTokenizer());
        var dataset = SftDataset.FromExamples(TinyChat.TrainSet(), template, maxLen: 256);
        Assert.Equal(0, dataset.Stats.Truncated);
        Assert.Equal(400, dataset.Stats.Examples);
        Assert.True(dataset.Sequences.Max(s => s.Length) < 256);
        Assert.True(dataset.Stats.TargetTokens > 0.2 * dataset.Stats.Tokens, $"{dataset.Stats.TargetTokens} of {dataset.Stats.Tokens} tokens trained");
    }
}
