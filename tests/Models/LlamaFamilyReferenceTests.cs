using Engine.Autograd;
using Engine.Backends;
using Engine.Models;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Models;

/// <summary>The engine's Llama-family models against the independent float64 forward, on the packed batch (rows of 6: one example, then two of 3).</summary>
public class LlamaFamilyReferenceTests
{
    private static float[] Logits(Transformer model, Engine.Training.Batch batch)
    {
        using var tape = new Tape(model.Backend, recordGradients: false);
        return CpuBackend.F(model.Logits(tape, batch).Value).ToArray();
    }

    /// <summary>Llama with Qwen2's q/k/v bias and GQA, Mistral (window 3, shorter than the first row's example), Llama with a tied head; weights
    /// scaled ×10 so attention is far from uniform and a wrong mask shows.</summary>
    [Theory]
    [InlineData("qwen2")]
    [InlineData("mistral")]
    [InlineData("llama-tied")]
    public void LogitsMatchTheFloat64Reference(string name)
    {
        var config = name switch
        {
            "qwen2" => TinyModels.Llama(),
            "mistral" => TinyModels.Mistral(),
            _ => TinyModels.Llama() with { QkvBias = false, TiedEmbeddings = true },
        };
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, config, seed: 7);
        TinyModels.ScaleWeights(model, 10f);
        var batch = TinyModels.PackedBatch(config.VocabSize);
        Check.Close(LlamaFamilyReference.Of(model).Logits(batch), Logits(model, batch), 1e-5, "logits");
    }

    /// <summary>The window is not vacuous: the reference without it differs exactly at the first row's tokens 3..5, whose first keys fall outside.</summary>
    [Fact]
    public void MistralsWindowChangesTheLogitsOfTheTokensItCuts()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Mistral(), seed: 7);
        TinyModels.ScaleWeights(model, 10f);
        var batch = TinyModels.PackedBatch(model.Config.VocabSize);
        var windowed = LlamaFamilyReference.Of(model);
        double[] with = windowed.Logits(batch), without = new LlamaFamilyReference(model.Config with { SlidingWindow = 0 }, windowed.Weights).Logits(batch);
        int vocab = model.Config.VocabSize;
        for (int token = 0; token < batch.Tokens; token++)
        {
            double difference = Enumerable.Range(0, vocab).Max(i => Math.Abs(with[token * vocab + i] - without[token * vocab + i]));
            if (token is >= 3 and < 6) Assert.True(difference > 1e-3, $"token {token}: the window changed nothing ({difference:E2})");
            else Assert.Equal(0, difference);
        }
    }
}
