using Engine.Autograd;
using Engine.Backends;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Support;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Models;

/// <summary>
/// Each family's engine model, loaded from a checkpoint directory written from the float64 reference's random weights, against the reference on the
/// packed batch (rows of 6: one example, then two of 3): its logits, its loss, and the gradient of every parameter element against central
/// differences of the reference's loss.
/// </summary>
public class ReferenceDecoderTests
{
    public static TheoryData<string> Families() => ["llama-tied", "qwen2", "mistral", "qwen3", "phi3", "gemma3"];

    /// <summary>Llama with a tied head, Llama with Qwen2's q/k/v bias and GQA, Mistral (window 3, shorter than the first row's example), Qwen3,
    /// Phi-3 (window 4), Gemma 3 (<see cref="TinyModels.Gemma3"/>).</summary>
    private static ModelConfig Config(string name) => name switch
    {
        "qwen2" => TinyModels.Llama(),
        "mistral" => TinyModels.Mistral(),
        "qwen3" => TinyModels.Qwen3(),
        "phi3" => TinyModels.Phi3(),
        "gemma3" => TinyModels.Gemma3(),
        _ => TinyModels.Llama() with { QkvBias = false, TiedEmbeddings = true },
    };

    /// <summary>The engine's model of the reference's weights, through config.json and model.safetensors as a user's directory holds them.</summary>
    internal static Transformer Load(ReferenceDecoder reference, CpuBackend backend)
    {
        using var directory = new TempDirectory();
        HfConfig.Write(reference.Config, directory.File(HfConfig.FileName));
        reference.WriteWeights(directory.Path);
        return HfCheckpoint.Load(directory.Path, backend);
    }

    /// <summary>Weights in ±0.5 make attention far from uniform, so a wrong mask or scale shows.</summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void LogitsAndLossMatchTheFloat64Reference(string name)
    {
        var reference = ReferenceDecoder.Random(Config(name), seed: 7, scale: 0.5f);
        using var backend = new CpuBackend();
        using var model = Load(reference, backend);
        Assert.Equal(reference.Config, model.Config);
        var batch = TinyModels.PackedBatch(model.Config.VocabSize);
        using var tape = new Tape(backend, recordGradients: false);
        Check.Close(reference.Logits(batch), CpuBackend.F(model.Logits(tape, batch).Value), 1e-5, "logits");
        double expected = reference.Loss(batch), loss = model.Forward(tape, batch);
        Assert.True(Math.Abs(loss - expected) <= 1e-5 * expected, $"loss {loss} vs the reference's {expected}");
    }

    /// <summary>
    /// Every element of every parameter's gradient (the summed loss's, as the engine's backward gives it) against the reference's, by central
    /// differences in float64 (h = 1e-5: truncation and rounding both under 1e-9 of the loss); per tensor within 2e-5 of its largest element
    /// (the float32 engine rounds to about 3e-6).
    /// </summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void GradientsMatchTheReferencesFiniteDifferences(string name)
    {
        var reference = ReferenceDecoder.Random(Config(name), seed: 11, scale: 0.5f);
        using var backend = new CpuBackend();
        using var model = Load(reference, backend);
        var batch = TinyModels.PackedBatch(model.Config.VocabSize);
        TinyModels.AllocateGradients(model);
        using (var tape = new Tape(backend))
        {
            model.Forward(tape, batch);
            tape.Backward();
        }

        var weights = reference.Weights.ToDictionary(w => w.Key, w => w.Value.ToArray());
        var perturbed = new ReferenceDecoder(reference.Config, weights);
        const double h = 1e-5;
        var failures = new List<string>();
        foreach (var p in model.Parameters)
        {
            var (tensor, offset) = CheckpointElement(model.Config, p.Name);
            double[] w = weights[tensor];
            var expected = new double[p.Value.Length];
            for (int i = 0; i < expected.Length; i++)
            {
                double saved = w[offset + i];
                w[offset + i] = saved + h;
                double plus = perturbed.Loss(batch);
                w[offset + i] = saved - h;
                double minus = perturbed.Loss(batch);
                w[offset + i] = saved;
                expected[i] = (plus - minus) / (2 * h);
            }
            double error = Check.RelativeError(expected, CpuBackend.F(p.Grad!));
            if (!(error <= 2e-5)) failures.Add($"{p.Name}: relative error {error:E2}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Where a parameter of the engine starts in the checkpoint: its tensor and first element (Phi-3: a row block of a fused tensor).</summary>
    private static (string Tensor, int Offset) CheckpointElement(ModelConfig c, string parameter)
    {
        if (c.Family != ModelFamily.Phi3) return (parameter, 0);
        int q = c.Heads * c.HeadDim, kv = c.KvHeads * c.HeadDim;
        var block = System.Text.RegularExpressions.Regex.Match(parameter, @"^model\.layers\.\d+\.").Value;
        return parameter[block.Length..] switch
        {
            "self_attn.q_proj.weight" => (block + "self_attn.qkv_proj.weight", 0),
            "self_attn.k_proj.weight" => (block + "self_attn.qkv_proj.weight", q * c.Dim),
            "self_attn.v_proj.weight" => (block + "self_attn.qkv_proj.weight", (q + kv) * c.Dim),
            "mlp.gate_proj.weight" => (block + "mlp.gate_up_proj.weight", 0),
            "mlp.up_proj.weight" => (block + "mlp.gate_up_proj.weight", c.FfnDim * c.Dim),
            _ => (parameter, 0),
        };
    }

    /// <summary>The window is not vacuous: the reference without it differs exactly at the first row's tokens 3..5, whose first keys fall outside.</summary>
    [Fact]
    public void MistralsWindowChangesTheLogitsOfTheTokensItCuts()
    {
        var windowed = ReferenceDecoder.Random(TinyModels.Mistral(), seed: 7, scale: 0.5f);
        var batch = TinyModels.PackedBatch(windowed.Config.VocabSize);
        double[] with = windowed.Logits(batch), without = new ReferenceDecoder(windowed.Config with { SlidingWindow = 0 }, windowed.Weights).Logits(batch);
        int vocab = windowed.Config.VocabSize;
        for (int token = 0; token < batch.Tokens; token++)
        {
            double difference = Enumerable.Range(0, vocab).Max(i => Math.Abs(with[token * vocab + i] - without[token * vocab + i]));
            if (token is >= 3 and < 6) Assert.True(difference > 1e-3, $"token {token}: the window changed nothing ({difference:E2})");
            else Assert.Equal(0, difference);
        }
    }

    /// <summary>Gemma 3's layer pattern is not vacuous: layer 0 slides and layer 1 does not (a window on both, or on neither, changes the
    /// logits), and the sliding layer's θ and the query scalar matter.</summary>
    [Fact]
    public void GemmasLayerPatternSlidingThetaAndQueryScalarEachChangeTheLogits()
    {
        var gemma = ReferenceDecoder.Random(TinyModels.Gemma3(), seed: 7, scale: 0.5f);
        var batch = TinyModels.PackedBatch(gemma.Config.VocabSize);
        double[] logits = gemma.Logits(batch);
        foreach (var (what, changed) in new[]
        {
            ("a window on every layer", gemma.Config with { SlidingWindowPattern = 0 }),
            ("no sliding layer", gemma.Config with { SlidingWindowPattern = 1 }),
            ("one θ for both layers", gemma.Config with { SlidingRopeTheta = 0 }),
            ("scores over √head_dim", gemma.Config with { QueryPreAttentionScalar = 0 }),
        })
        {
            double[] other = new ReferenceDecoder(changed, gemma.Weights).Logits(batch);
            double difference = logits.Zip(other, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(difference > 1e-3, $"{what}: the logits moved by only {difference:E2}");
        }
    }
}
