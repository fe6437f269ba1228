using System.Text.Json;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>`engine bench step --model DIR`: the shape of a config.json with random weights, timed, with the memory it holds;
/// and the real-model shapes of bench/shapes.</summary>
public sealed class BenchCliTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A tiny Qwen2 shape: grouped-query attention, q/k/v bias, tied embeddings.</summary>
    private static readonly ModelConfig Tiny =
        ModelConfig.Llama(vocabSize: 97, contextLength: 32, layers: 2, dim: 24, heads: 6, kvHeads: 2, ffnDim: 40) with { QkvBias = true };

    /// <summary>The parameters of a tied Llama-family shape, counted by hand: embedding, per block two norms, q/k/v/o (and q/k/v bias)
    /// and the three MLP matrices, and the final norm.</summary>
    private static long ParameterCount(ModelConfig c)
    {
        long q = c.Heads * c.HeadDim, kv = c.KvHeads * c.HeadDim;
        long block = 2L * c.Dim + c.Dim * q + 2 * c.Dim * kv + q * c.Dim + 3L * c.Dim * c.FfnDim + (c.QkvBias ? q + 2 * kv : 0);
        return (long)c.VocabSize * c.Dim + c.Layers * block + c.Dim;
    }

    private string ConfigDirectory(ModelConfig config)
    {
        string directory = Path.Combine(_temp.Path, "shape");
        Directory.CreateDirectory(directory);
        HfConfig.Write(config, Path.Combine(directory, HfConfig.FileName));
        return directory;
    }

    /// <summary>Runs `bench step --model` with the extra options and returns its --json result.</summary>
    private JsonElement Bench(string directory, params string[] options)
    {
        string json = _temp.File("bench.json");
        Assert.Equal((0, ""), CliRun.Run(["bench", "step", "--model", directory, "--steps", "2", "--warmup", "1", "--backend", "cpu", "--json", json, .. options]));
        using var document = JsonDocument.Parse(File.ReadAllText(json));
        return document.RootElement.Clone();
    }

    private static long Long(JsonElement e, string name) => e.GetProperty(name).GetInt64();

    [Fact]
    public void FullFineTuningTakesTheShapeOfTheConfigAndAccountsForItsMemory()
    {
        var result = Bench(ConfigDirectory(Tiny), "--seq", "16", "--batch", "2");

        Assert.Equal("Llama", result.GetProperty("family").GetString());
        Assert.Equal(Tiny.VocabSize, Long(result, "vocab"));
        Assert.Equal(Tiny.Layers, Long(result, "layers"));
        Assert.Equal(Tiny.Dim, Long(result, "dim"));
        Assert.Equal(Tiny.Heads, Long(result, "heads"));
        Assert.Equal(Tiny.KvHeads, Long(result, "kv_heads"));
        Assert.Equal(Tiny.FfnDim, Long(result, "ffn"));
        Assert.True(result.GetProperty("qkv_bias").GetBoolean());
        Assert.True(result.GetProperty("tied").GetBoolean());
        Assert.Equal(16, Long(result, "seq"));
        Assert.Equal(2, Long(result, "batch"));
        Assert.Equal(2, result.GetProperty("step_ms").GetArrayLength());

        long parameters = ParameterCount(Tiny);
        Assert.Equal(parameters, Long(result, "parameters"));
        Assert.Equal(parameters, Long(result, "trainable_parameters"));
        long weights = Long(result, "weight_bytes");
        Assert.Equal(4 * parameters, weights);
        Assert.Equal(weights, Long(result, "gradient_bytes"));
        Assert.Equal(2 * weights, Long(result, "optimizer_bytes"));
        // Between steps the backend holds the weights, their gradients and the two moments (and a few small tables), in pooled
        // capacities at most 12.5% over; during a step, activations on top; the pool holds at least the peak.
        long betweenSteps = Long(result, "tensor_bytes_between_steps"), peak = Long(result, "tensor_bytes_peak");
        Assert.InRange(betweenSteps, 4 * weights, 4 * weights * 9 / 8 + 4096);
        Assert.Equal(peak - betweenSteps, Long(result, "activation_bytes"));
        Assert.True(peak > betweenSteps, $"peak {peak} ≤ between steps {betweenSteps}");
        Assert.True(Long(result, "tensor_bytes_held") >= peak);
        Assert.True(Long(result, "peak_process_bytes") > peak);
    }

    [Fact]
    public void ActivationsGrowWithTheTokensOfAStep()
    {
        string directory = ConfigDirectory(Tiny);
        long two = Long(Bench(directory, "--seq", "16", "--batch", "2"), "activation_bytes");
        long four = Long(Bench(directory, "--seq", "16", "--batch", "4"), "activation_bytes");
        Assert.InRange(four, 3 * two / 2, 5 * two / 2);
    }

    [Fact]
    public void LoraKeepsGradientsAndMomentsForTheAdaptersOnly()
    {
        var result = Bench(ConfigDirectory(Tiny), "--seq", "8", "--batch", "1", "--lora", "--lora-r", "2");
        // r·(in + out) per adapted matrix: q, k, v, o, gate, up, down of every block.
        int q = Tiny.Heads * Tiny.HeadDim, kv = Tiny.KvHeads * Tiny.HeadDim, c = Tiny.Dim, f = Tiny.FfnDim;
        long trainable = 2L * Tiny.Layers * ((c + q) + 2 * (c + kv) + (q + c) + 2 * (c + f) + (f + c));
        Assert.Equal(2, Long(result, "lora_rank"));
        Assert.Equal(ParameterCount(Tiny), Long(result, "parameters"));
        Assert.Equal(trainable, Long(result, "trainable_parameters"));
        Assert.Equal(4 * trainable, Long(result, "gradient_bytes"));
        Assert.Equal(8 * trainable, Long(result, "optimizer_bytes"));
    }

    [Fact]
    public void BadModelOptionsAreOneLineErrors()
    {
        string directory = ConfigDirectory(Tiny);
        CliRun.AssertError(CliRun.Run("bench", "step", "--model", _temp.Path, "--steps", "1"), HfConfig.FileName, "not found");
        CliRun.AssertError(CliRun.Run("bench", "step", "--model", directory, "--seq", "33", "--steps", "1"), "--seq 33", "1..32", HfConfig.FileName);
        CliRun.AssertError(CliRun.Run("bench", "step", "--model", directory, "--preset", "i"), "--preset and --model");
        CliRun.AssertError(CliRun.Run("bench", "step", "--model", directory, "--layers", "3"), "--layers", "--model gives the shape");
        CliRun.AssertError(CliRun.Run("bench", "step", "--model", directory, "--seq", "16", "--backend", "cpu", "--precision", "bf16", "--steps", "1"),
            "--precision bf16 needs an ILGPU backend", "--precision fp32");
    }

    /// <summary>The JSON names the matmul precision (fp32 by default on the CPU backend) and has every timed step's loss, which
    /// bench/gpu/compare.py compares between a bf16 and an fp32 run.</summary>
    [Fact]
    public void TheResultHasThePrecisionAndEveryTimedStepsLoss()
    {
        var result = Bench(ConfigDirectory(Tiny), "--seq", "16", "--batch", "2");

        Assert.Equal("fp32", result.GetProperty("precision").GetString());
        Assert.Equal(1, Long(result, "warmup_steps"));
        var losses = result.GetProperty("losses").EnumerateArray().Select(l => l.GetDouble()).ToArray();
        Assert.Equal(2, losses.Length);
        Assert.All(losses, l => Assert.InRange(l, 0.5 * Math.Log(Tiny.VocabSize), 2 * Math.Log(Tiny.VocabSize)));
    }

    [Theory]
    [InlineData("smollm2-135m", 49152, 576, 30, 9, 3, 1536, false, 134_515_008)]
    [InlineData("qwen2.5-0.5b", 151936, 896, 24, 14, 2, 4864, true, 494_032_768)]
    public void RealModelShapesHaveThePublishedParameterCounts(string name, int vocab, int dim, int layers, int heads, int kvHeads, int ffn,
        bool qkvBias, long parameters)
    {
        // The totals transformers reports for the real models (num_parameters() of SmolLM2-135M and Qwen2.5-0.5B).
        var config = HfConfig.Read(Path.Combine(AppContext.BaseDirectory, "shapes", name, HfConfig.FileName));
        Assert.Equal((ModelFamily.Llama, vocab, dim, layers, heads, kvHeads, ffn, qkvBias, true),
            (config.Family, config.VocabSize, config.Dim, config.Layers, config.Heads, config.KvHeads, config.FfnDim, config.QkvBias, config.TiedEmbeddings));
        Assert.Equal(parameters, ParameterCount(config));
    }
}
