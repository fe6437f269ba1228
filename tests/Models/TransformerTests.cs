using Engine.Autograd;
using Engine.Backends.Cpu;
using Engine.Models;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Models;

public class TransformerTests
{
    private static double Loss(Transformer model, Batch batch)
    {
        using var tape = new Tape(model.Backend, recordGradients: false);
        return model.Forward(tape, batch, 1f);
    }

    /// <summary>
    /// For every parameter tensor, the directional derivative along a random ±1 direction, by central differences of the
    /// float32 model, against Σ grad·direction from the tape. The step h = 1e-2 per element keeps float32 rounding of the
    /// loss (≈1e-6) two orders below the change measured.
    /// </summary>
    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void GradientsOfEveryParameterMatchFiniteDifferences(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 3);
        TinyModels.ScaleWeights(model, 10f);
        var batch = TinyModels.PackedBatch(model.Config.VocabSize);

        using (var tape = new Tape(backend))
        {
            model.Forward(tape, batch, 1f);
            tape.Backward();
        }

        var rng = new Random(5);
        const float h = 1e-2f;
        var failures = new List<string>();
        foreach (var p in model.Parameters)
        {
            var value = CpuBackend.F(p.Value);
            var grad = CpuBackend.F(p.Grad!);
            var direction = Enumerable.Range(0, value.Length).Select(_ => rng.Next(2) * 2f - 1f).ToArray();
            double analytic = 0;
            for (int i = 0; i < value.Length; i++) analytic += grad[i] * direction[i];

            var saved = value.ToArray();
            for (int i = 0; i < value.Length; i++) value[i] = saved[i] + h * direction[i];
            double plus = Loss(model, batch);
            for (int i = 0; i < value.Length; i++) value[i] = saved[i] - h * direction[i];
            double minus = Loss(model, batch);
            saved.CopyTo(value);

            double numeric = (plus - minus) / (2 * h);
            double error = Math.Abs(numeric - analytic) / Math.Max(Math.Abs(numeric), 1e-3);
            if (error > 1e-2) failures.Add($"{p.Name}: tape {analytic:E4}, finite differences {numeric:E4}, relative error {error:E2}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
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
