using Engine.Autograd;
using Engine.Backends;
using Engine.Models;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Models;

public class TransformerTests
{
    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    [InlineData(ModelFamily.Mistral)]
    [InlineData(ModelFamily.Qwen3)]
    [InlineData(ModelFamily.Gemma3)]
    [InlineData(ModelFamily.Phi3)]
    public void GradientsOfEveryParameterMatchFiniteDifferences(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 3);
        TinyModels.ScaleWeights(model, 10f);
        var failures = ModelGradientCheck.Failures(model, TinyModels.PackedBatch(model.Config.VocabSize), model.Parameters);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    [InlineData(ModelFamily.Mistral)]
    [InlineData(ModelFamily.Qwen3)]
    [InlineData(ModelFamily.Gemma3)]
    [InlineData(ModelFamily.Phi3)]
    public void PackedExamplesDoNotSeeEachOther(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 4);
        var packed = TinyModels.PackedBatch(model.Config.VocabSize);
        using var tape = new Tape(backend, recordGradients: false);
        var packedLogits = CpuBackend.F(model.Logits(tape, packed).Value).ToArray();

        // The second row's second example (tokens 9..11) run alone as a row of its own.
        var alone = Batch.Unpacked(1, 3, packed.Ids[9..12], packed.Targets[9..12]);
        var aloneLogits = CpuBackend.F(model.Logits(tape, alone).Value).ToArray();
        int vocab = model.Config.VocabSize;
        for (int i = 0; i < 3 * vocab; i++)
            Assert.True(Math.Abs(packedLogits[9 * vocab + i] - aloneLogits[i]) <= 1e-5f * (1 + Math.Abs(aloneLogits[i])),
                $"logit {i}: packed {packedLogits[9 * vocab + i]} vs alone {aloneLogits[i]}");
    }

    [Fact]
    public void ParameterCountOfPresetTwoMatchesTheBaseline()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, Presets.Bench("ii"), seed: 1);
        Assert.Equal(13_891_584, model.ParameterCount);
    }

    [Fact]
    public void ConfigThatDoesNotFitIsRejectedByName()
    {
        var bad = TinyModels.Llama() with { KvHeads = 3 };
        var e = Assert.Throws<ArgumentException>(() => bad.Validate());
        Assert.Contains("KvHeads", e.Message);
    }
}
