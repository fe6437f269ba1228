using System.Globalization;
using System.Text.Json;
using Engine.Autograd;
using Engine.Backends;
using Engine.Eval;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Tests.Support;
using Engine.Tokenizers;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>
/// A model directory of each family as a user downloads it, written from the float64 reference's own weights: config.json as transformers'
/// save_pretrained writes that family's config class, model.safetensors under the family's checkpoint names (Phi-3's fused qkv_proj and
/// gate_up_proj; Gemma 3's four norms per block), the byte-level chat tokenizer's files. It loads with the reference's logits, trains with
/// `engine sft` and saves back as the same family under the same names, answers with `engine generate`, and a `--lora` run writes a PEFT
/// adapter on the family's module names. Mistral's and Phi-3's layers, and Gemma 3's sliding one, have a window of 5 tokens, shorter than
/// the data's rows. A family more is a case of <see cref="Family"/> and its config.json.
/// </summary>
public sealed class FamilyCliTests : IDisposable
{
    private const int Window = 5, LoraRank = 4;

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string> Families => ["mistral", "qwen3", "phi3", "gemma3"];

    /// <summary>The family's tiny config (dim 16, 2 layers, 2 heads, 1 kv head) and its config.json.</summary>
    private static (ModelConfig Config, string Json) Family(string family)
    {
        var llama = ModelConfig.Llama(new ByteChatTokenizer().VocabSize, contextLength: 64, layers: 2, dim: 16, heads: 2, kvHeads: 1, ffnDim: 32);
        return family switch
        {
            "mistral" => Mistral(llama with { Family = ModelFamily.Mistral, SlidingWindow = Window, TiedEmbeddings = false }),
            "qwen3" => Qwen3(llama with { Family = ModelFamily.Qwen3, HeadDim = 12, RopeTheta = 1_000_000, TiedEmbeddings = true }),
            "phi3" => Phi3(llama with { Family = ModelFamily.Phi3, SlidingWindow = Window, NormEps = 1e-5f, TiedEmbeddings = false }),
            "gemma3" => Gemma3(llama with
            {
                Family = ModelFamily.Gemma3, HeadDim = 12, SlidingWindow = Window, SlidingWindowPattern = 2, RopeTheta = 1_000_000,
                SlidingRopeTheta = 10_000, QueryPreAttentionScalar = 16, TiedEmbeddings = true,
            }),
            _ => throw new ArgumentException($"no test config for {family}"),
        };
    }

    /// <summary>MistralConfig as transformers 4.57 writes it.</summary>
    private static (ModelConfig, string) Mistral(ModelConfig c) => (c, string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": null, "eos_token_id": null, "head_dim": null,
          "hidden_act": "silu", "hidden_size": {{c.Dim}}, "initializer_range": 0.02, "intermediate_size": {{c.FfnDim}},
          "max_position_embeddings": {{c.ContextLength}}, "model_type": "mistral", "num_attention_heads": {{c.Heads}},
          "num_hidden_layers": {{c.Layers}}, "num_key_value_heads": {{c.KvHeads}}, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
          "sliding_window": {{c.SlidingWindow}}, "tie_word_embeddings": false, "torch_dtype": "float32", "transformers_version": "4.57.1",
          "use_cache": true, "vocab_size": {{c.VocabSize}}
        }
        """));

    /// <summary>Qwen3Config as transformers 4.57 writes it: head_dim 12 where hidden_size / heads is 8, tied embeddings (as Qwen3-0.6B),
    /// no sliding window (use_sliding_window false, so sliding_window null and every layer_types entry full_attention).</summary>
    private static (ModelConfig, string) Qwen3(ModelConfig c) => (c, string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "dtype": "float32", "head_dim": {{c.HeadDim}},
          "hidden_act": "silu", "hidden_size": {{c.Dim}}, "initializer_range": 0.02, "intermediate_size": {{c.FfnDim}},
          "layer_types": [{{string.Join(", ", Enumerable.Repeat("\"full_attention\"", c.Layers))}}], "max_position_embeddings": {{c.ContextLength}},
          "max_window_layers": 28, "model_type": "qwen3", "num_attention_heads": {{c.Heads}}, "num_hidden_layers": {{c.Layers}},
          "num_key_value_heads": {{c.KvHeads}}, "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000.0, "sliding_window": null,
          "tie_word_embeddings": true, "transformers_version": "4.57.1", "use_cache": true, "use_sliding_window": false, "vocab_size": {{c.VocabSize}}
        }
        """));

    /// <summary>Phi3Config as transformers 4.57 writes it (Phi-3-mini's fields: no head_dim, a sliding_window, partial_rotary_factor 1.0,
    /// rms_norm_eps 1e-05), with the chat tokenizer's eos and pad ids.</summary>
    private static (ModelConfig, string) Phi3(ModelConfig c) => (c, string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "architectures": ["Phi3ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": null, "dtype": "float32", "embd_pdrop": 0.0,
          "eos_token_id": {{ByteChatTokenizer.ImEnd}}, "hidden_act": "silu", "hidden_size": {{c.Dim}}, "initializer_range": 0.02,
          "intermediate_size": {{c.FfnDim}}, "max_position_embeddings": {{c.ContextLength}}, "model_type": "phi3",
          "num_attention_heads": {{c.Heads}}, "num_hidden_layers": {{c.Layers}}, "num_key_value_heads": {{c.KvHeads}},
          "original_max_position_embeddings": {{c.ContextLength}}, "pad_token_id": {{ByteChatTokenizer.EndOfText}}, "partial_rotary_factor": 1.0,
          "resid_pdrop": 0.0, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0, "sliding_window": {{c.SlidingWindow}},
          "tie_word_embeddings": false, "transformers_version": "4.57.1", "use_cache": true, "vocab_size": {{c.VocabSize}}
        }
        """));

    /// <summary>Gemma3TextConfig as transformers 4.57 writes it: layer_types a sliding then a full layer (the period 2 where Gemma 3 has 6,
    /// _sliding_window_pattern still the default 6), each with its RoPE θ, query_pre_attn_scalar 16 where head_dim is 12, tied embeddings
    /// (not written: the default), the chat tokenizer's eos and pad ids.</summary>
    private static (ModelConfig, string) Gemma3(ModelConfig c) => (c, string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "_sliding_window_pattern": 6, "architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
          "attn_logit_softcapping": null, "bos_token_id": null, "dtype": "float32", "eos_token_id": {{ByteChatTokenizer.ImEnd}},
          "final_logit_softcapping": null, "head_dim": {{c.HeadDim}}, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": {{c.Dim}},
          "initializer_range": 0.02, "intermediate_size": {{c.FfnDim}}, "layer_types": ["sliding_attention", "full_attention"],
          "max_position_embeddings": {{c.ContextLength}}, "model_type": "gemma3_text", "num_attention_heads": {{c.Heads}},
          "num_hidden_layers": {{c.Layers}}, "num_key_value_heads": {{c.KvHeads}}, "pad_token_id": {{ByteChatTokenizer.EndOfText}},
          "query_pre_attn_scalar": {{c.QueryPreAttentionScalar}}, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0, "rope_scaling": null,
          "rope_theta": 1000000.0, "sliding_window": {{c.SlidingWindow}}, "transformers_version": "4.57.1", "use_bidirectional_attention": false,
          "use_cache": true, "vocab_size": {{c.VocabSize}}
        }
        """));

    /// <summary>The reference's weights, rounded to float32, as a Hugging Face directory with the hand-written config.json.</summary>
    private string WriteDirectory(ReferenceDecoder reference, string json)
    {
        string directory = Path.Combine(_temp.Path, "base");
        reference.WriteWeights(directory);
        File.WriteAllText(Path.Combine(directory, HfConfig.FileName), json);
        new ByteChatTokenizer().WriteHfFiles(directory);
        return directory;
    }

    private (int ExitCode, string Error) Sft(string model, string run, params string[] args)
    {
        string data = CliRun.FourConversations(_temp);
        return CliRun.Run(["sft", "--model", model, .. args, "--data", data, "--eval-data", data, "--steps", "4", "--batch", "2", "--max-len", "64",
            "--backend", "cpu", "--out", run]);
    }

    private static void AssertTargetLossFell(string run)
    {
        var summary = FineTuneSummary.Read(run);
        Assert.Equal(4, summary.Steps);
        Assert.True(summary.TargetLossAfter < summary.TargetLossBefore, $"target loss {summary.TargetLossBefore} → {summary.TargetLossAfter}");
    }

    /// <summary>A safetensors file's tensor names and shapes.</summary>
    private static Dictionary<string, int[]> Shapes(string path)
    {
        using var file = SafeTensors.Open(path);
        return file.Tensors.Values.ToDictionary(t => t.Name, t => t.Shape);
    }

    private static void AssertSameShapes(Dictionary<string, int[]> expected, Dictionary<string, int[]> actual)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, shape) in expected)
            Assert.True(shape.SequenceEqual(actual[name]), $"{name}: [{string.Join(", ", actual[name])}], expected [{string.Join(", ", shape)}]");
    }

    private static string[] ArchitectureAndType(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        return [root.GetProperty("architectures")[0].GetString()!, root.GetProperty("model_type").GetString()!];
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ADirectoryOfTheFamilyLoadsWithTheReferencesLogitsTrainsSavesAndGenerates(string family)
    {
        var (config, json) = Family(family);
        var reference = ReferenceDecoder.Random(config, seed: 3, scale: 0.5f);
        string directory = WriteDirectory(reference, json);

        using (var backend = new CpuBackend())
        using (var loaded = HfCheckpoint.Load(directory, backend))
        {
            Assert.Equal(config, loaded.Config);
            int[] ids = TestData.Ints(12, seed: 4, max: config.VocabSize);
            var batch = Batch.Unpacked(1, ids.Length, ids, new int[ids.Length]);
            using var tape = new Tape(backend, recordGradients: false);
            Check.Close(reference.Logits(batch), CpuBackend.F(loaded.Logits(tape, batch).Value), 1e-5, $"{family} logits of 12 tokens");
        }

        string run = Path.Combine(_temp.Path, "run");
        Assert.Equal((0, ""), Sft(directory, run, "--lr", "0.01"));
        AssertTargetLossFell(run);

        string trained = Path.Combine(run, "model");
        Assert.Equal(config, HfConfig.Read(Path.Combine(trained, HfConfig.FileName)));
        Assert.Equal(ArchitectureAndType(json), ArchitectureAndType(File.ReadAllText(Path.Combine(trained, HfConfig.FileName))));
        AssertSameShapes(ReferenceDecoder.Tensors(config).ToDictionary(t => t.Name, t => t.Shape),
            Shapes(Path.Combine(trained, ShardedCheckpoint.SingleFileName)));
        Assert.Equal((0, ""), CliRun.Run("generate", "--model", trained, "--prompt", "hi", "--chat", "--max-new-tokens", "8", "--backend", "cpu"));
        Assert.Equal((0, ""), CliRun.Run("generate", "--model", directory, "--prompt", "a prompt longer than the window", "--max-new-tokens", "4", "--backend", "cpu"));
    }

    /// <summary>
    /// `--lora` on every linear layer: PEFT wraps each nn.Linear of the checkpoint, so the adapter's modules are the checkpoint's 2-D layer
    /// weights (Phi-3's qkv_proj and gate_up_proj whole, B with their fused rows), A [r, in] and B [out, r] under base_model.model., and
    /// target_modules their last names.
    /// </summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void ALoraRunWritesAPeftAdapterOnTheFamilysModuleNames(string family)
    {
        var (config, json) = Family(family);
        string directory = WriteDirectory(ReferenceDecoder.Random(config, seed: 3, scale: 0.5f), json);
        string run = Path.Combine(_temp.Path, "run");
        Assert.Equal((0, ""), Sft(directory, run, "--lora", "--lora-r", LoraRank.ToString(CultureInfo.InvariantCulture), "--lr", "0.05"));
        AssertTargetLossFell(run);

        var linears = ReferenceDecoder.Tensors(config).Where(t => t.Name.StartsWith("model.layers.", StringComparison.Ordinal) && t.Shape.Length == 2)
            .Select(t => (Module: t.Name[..^".weight".Length], Out: t.Shape[0], In: t.Shape[1])).ToList();
        string adapter = Path.Combine(run, "adapter");
        using (var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapter, PeftAdapter.ConfigFile))))
        {
            var targets = document.RootElement.GetProperty("target_modules").EnumerateArray().Select(t => t.GetString()!);
            Assert.Equal(linears.Select(l => l.Module[(l.Module.LastIndexOf('.') + 1)..]).Distinct().Order(StringComparer.Ordinal), targets.Order(StringComparer.Ordinal));
        }
        AssertSameShapes(linears.SelectMany(l => new[]
            {
                ($"base_model.model.{l.Module}.lora_A.weight", new[] { LoraRank, l.In }),
                ($"base_model.model.{l.Module}.lora_B.weight", new[] { l.Out, LoraRank }),
            }).ToDictionary(t => t.Item1, t => t.Item2),
            Shapes(Path.Combine(adapter, PeftAdapter.WeightsFile)));
        Assert.Equal((0, ""), CliRun.Run("generate", "--model", directory, "--adapter", adapter, "--prompt", "hi", "--chat", "--max-new-tokens", "8", "--backend", "cpu"));
    }
}
