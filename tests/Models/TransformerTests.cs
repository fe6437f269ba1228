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
    /// For every parameter tensor, the directional derivative by central differences of the float32 model against the tape's
    /// Σ grad·direction, along the tape's own gradient scaled so its largest element moves by h (the direction of most signal:
    /// a wrong gradient changes the projection). Weights ×10 make gradients large; h = 1e-3 keeps the curvature error and the
    /// float32 rounding of the loss (≈1e-6, i.e. ≈5e-4 on the quotient) each under 1%. A tensor whose gradient is exactly
    /// zero by symmetry (GPT-2's k bias: softmax ignores a constant shift of every score) must show no slope along a random direction.
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
        const float h = 1e-3f;
        var failures = new List<string>();
        foreach (var p in model.Parameters)
        {
            var value = CpuBackend.F(p.Value);
            var grad = CpuBackend.F(p.Grad!).ToArray();
            float largest = grad.Max(MathF.Abs);
            bool zeroBySymmetry = largest < 1e-5f;
            var direction = zeroBySymmetry
                ? Enumerable.Range(0, value.Length).Select(_ => rng.Next(2) * 2f - 1f).ToArray()
                : grad.Select(g => g / largest).ToArray();
            double analytic = 0;
            for (int i = 0; i < value.Length; i++) analytic += grad[i] * direction[i];

            var saved = value.ToArray();
            for (int i = 0; i < value.Length; i++) value[i] = saved[i] + h * direction[i];
            double plus = Loss(model, batch);
            for (int i = 0; i < value.Length; i++) value[i] = saved[i] - h * direction[i];
            double minus = Loss(model, batch);
            saved.CopyTo(value);

            double numeric = (plus - minus) / (2 * h);
            bool ok = zeroBySymmetry ? Math.Abs(numeric) < 1e-3 : Math.Abs(numeric - analytic) <= 1e-2 * Math.Abs(analytic);
            if (!ok) failures.Add($"{p.Name}: tape {analytic:E4}, finite differences {numeric:E4}");
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
