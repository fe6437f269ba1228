using Engine.Backends;
using Engine.Generation;
using Engine.Models;
using Engine.Tests.Models;
using Xunit;

namespace Engine.Tests.Generation;

/// <summary>K samples of a prompt from one shared prefill equal the samples of the prompt repeated K times, seed for seed.</summary>
public class SharedPrefillTests
{
    private static int[][] Prompts(int vocab) => [[1 % vocab, 5 % vocab, 2 % vocab], [7 % vocab], [3 % vocab, 3 % vocab, 9 % vocab, 4 % vocab, 1 % vocab]];

    [Theory]
    [InlineData(ModelFamily.Gpt2, 16)]
    [InlineData(ModelFamily.Llama, 16)]
    [InlineData(ModelFamily.Llama, 8)]   // rows outgrow the context: they slide and re-prefill as without sharing
    public void SharedPrefillGivesTheSamplesOfRepeatedPrompts(ModelFamily family, int context)
    {
        using var backend = new CpuBackend();
        using var model = GeneratorTests.Model(backend, family, context);
        var prompts = Prompts(model.Config.VocabSize);
        var options = new SamplingOptions(Temperature: 1.2f, TopP: 0.95f, Seed: 11, MaxNewTokens: 10);
        const int k = 4;
        var seeds = Enumerable.Range(0, prompts.Length * k).Select(i => 1000 + 7 * i).ToArray();
        var shared = Generator.SampleShared(model, prompts, k, options, seeds: seeds);
        var repeated = Generator.Generate(model, prompts.SelectMany(p => Enumerable.Repeat((IReadOnlyList<int>)p, k)).ToList(), options, seeds: seeds);
        Assert.Equal(repeated.Length, shared.Length);
        for (int r = 0; r < repeated.Length; r++) Assert.Equal(repeated[r], shared[r]);
        Assert.True(shared.Take(k).Select(s => string.Join(",", s)).Distinct().Count() > 1, "the samples of one prompt differ");
    }

    [Fact]
    public void ARowsSeedDecidesItsSampleWhateverTheBatch()
    {
        using var backend = new CpuBackend();
        using var model = GeneratorTests.Model(backend, ModelFamily.Llama, 16);
        var prompts = Prompts(model.Config.VocabSize);
        var options = new SamplingOptions(Temperature: 1f, MaxNewTokens: 8);
        var together = Generator.Generate(model, prompts, options, seeds: [5, 6, 7]);
        Assert.Equal(Generator.Generate(model, [prompts[2]], options, seeds: [7])[0], together[2]);
    }

    [Fact]
    public void FewerThanOneSampleIsRefused()
    {
        using var backend = new CpuBackend();
        using var model = GeneratorTests.Model(backend, ModelFamily.Llama, 16);
        Assert.Throws<ArgumentException>(() => Generator.SampleShared(model, [[1]], 0, new SamplingOptions()));
    }
}
