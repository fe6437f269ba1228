using Engine.Autograd;
using Engine.Backends.Cpu;
using Engine.Generation;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Tests.Support;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Generation;

public class GeneratorTests
{
    /// <summary>The decoder Generator replaced, kept as the reference: one prompt, the whole window re-run each token, argmax, stop token kept.</summary>
    private static List<int> OldGreedyDecoder(Transformer model, IReadOnlyList<int> prompt, int newTokens, int? stopId = null)
    {
        var tokens = prompt.ToList();
        using var tape = new Tape(model.Backend, recordGradients: false);
        var logits = new float[model.Config.VocabSize];
        for (int i = 0; i < newTokens; i++)
        {
            int[] window = tokens.TakeLast(model.Config.ContextLength).ToArray();
            var batch = Batch.Unpacked(1, window.Length, window, new int[window.Length]);
            var all = model.Logits(tape, batch);
            model.Backend.Download(all.Value.View((long)(window.Length - 1) * logits.Length, logits.Length), logits);
            int next = Array.IndexOf(logits, logits.Max());
            tokens.Add(next);
            tape.Reset();
            if (next == stopId) break;
        }
        return tokens.Skip(prompt.Count).ToList();
    }

    /// <summary>Weights scaled up so the logits are far from flat and greedy choices vary from token to token.</summary>
    private static Transformer Model(CpuBackend backend, ModelFamily family, int contextLength)
    {
        var model = new Transformer(backend, TinyModels.Get(family) with { ContextLength = contextLength }, seed: 3);
        TinyModels.ScaleWeights(model, 8f);
        return model;
    }

    private static IReadOnlyList<int>[] Prompts(int vocabSize) =>
        [.. new[] { 1, 4, 2, 6, 3 }.Select((length, i) => TestData.Ints(length, seed: 10 + i, max: vocabSize))];

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void GreedyEqualsTheOldGreedyDecoder(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, family, contextLength: 8);
        var generated = new List<int>();
        foreach (var prompt in Prompts(model.Config.VocabSize))
        {
            var expected = OldGreedyDecoder(model, prompt, 12);
            Assert.Equal(expected, Generator.Generate(model, prompt, new SamplingOptions(MaxNewTokens: 12)));
            generated.AddRange(expected);
        }
        Assert.True(generated.Distinct().Count() > 2, "the scaled model does not just repeat one token");
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void BatchedEqualsOneAtATime(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, family, contextLength: 16);
        var prompts = Prompts(model.Config.VocabSize);
        foreach (var options in new[] { new SamplingOptions(MaxNewTokens: 9), new SamplingOptions(Temperature: 1.3f, TopK: 6, TopP: 0.95f, Seed: 4, MaxNewTokens: 9) })
        {
            var batched = Generator.Generate(model, prompts, options);
            for (int r = 0; r < prompts.Length; r++)
                Assert.Equal(Generator.Generate(model, prompts[r], options with { Seed = options.Seed + r }), batched[r]);
        }
    }

    [Fact]
    public void AStopTokenEndsItsRowAndIsKept()
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, ModelFamily.Llama, contextLength: 16);
        var prompts = Prompts(model.Config.VocabSize);
        var options = new SamplingOptions(MaxNewTokens: 10);
        var free = Generator.Generate(model, prompts, options);
        int stop = free[1][2];
        var stopped = Generator.Generate(model, prompts, options, [stop]);
        for (int r = 0; r < prompts.Length; r++)
        {
            int first = free[r].IndexOf(stop);
            Assert.Equal(first < 0 ? free[r] : free[r][..(first + 1)], stopped[r]);
        }
        Assert.True(stopped[1].Count <= 3 && stopped[1][^1] == stop);
        Assert.Equal(Enumerable.Repeat(0, prompts.Length), Generator.Generate(model, prompts, options with { MaxNewTokens = 0 }).Select(c => c.Count));
    }

    [Fact]
    public void APromptLongerThanTheContextIsCutFromTheLeft()
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, ModelFamily.Llama, contextLength: 8);
        int[] prompt = TestData.Ints(20, seed: 5, max: model.Config.VocabSize);
        var options = new SamplingOptions(MaxNewTokens: 1);
        Assert.Equal(Generator.Generate(model, prompt[^8..], options), Generator.Generate(model, prompt, options));
        Assert.Equal(OldGreedyDecoder(model, prompt, 6), Generator.Generate(model, [prompt, prompt[..3]], options with { MaxNewTokens = 6 })[0]);
    }

    [Fact]
    public void AnEmptyPromptIsRejected()
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, ModelFamily.Llama, contextLength: 8);
        Assert.Throws<ArgumentException>(() => Generator.Generate(model, [[1, 2], []], new SamplingOptions()));
    }
}
