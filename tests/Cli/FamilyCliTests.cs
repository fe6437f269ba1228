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
/// A model directory of each newer family written from the float64 reference's own weights: config.json by hand as transformers'
/// save_pretrained writes that family's config, model.safetensors under the Hugging Face names (Phi-3's fused qkv_proj and gate_up_proj),
/// the byte-level chat tokenizer's files. Each window is 5 tokens, shorter than the data's rows. The directory loads with the reference's
/// logits, trains with `engine sft` (fully and with LoRA), saves back under the family's names, and answers with `engine generate`.
/// </summary>
public sealed class FamilyCliTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string> Families() => ["mistral", "qwen3", "phi3", "gemma3"];

    private static ModelConfig Config(string family, int vocabSize)
    {
        var llama = ModelConfig.Llama(vocabSize, contextLength: 64, layers: 2, dim: 16, heads: 2, kvHeads: 1, ffnDim: 32) with { TiedEmbeddings = false };
        return family switch
        {
            "mistral" => llama with { Family = ModelFamily.Mistral, SlidingWindow = 5 },
            "qwen3" => llama with { Family = ModelFamily.Qwen3, HeadDim = 12, TiedEmbeddings = true },
            "phi3" => llama with { Family = ModelFamily.Phi3, SlidingWindow = 5, NormEps = 1e-5f },
            _ => llama with
            {
                Family = ModelFamily.Gemma3, HeadDim = 12, TiedEmbeddings = true, SlidingWindow = 5, SlidingWindowPattern = 2,
                RopeTheta = 1_000_000, SlidingRopeTheta = 10_000, QueryPreAttentionScalar = 16,
            },
        };
    }

    /// <summary>config.json with the fields (and field names) each config class writes; ids null, as the byte tokenizer's are not the model's.</summary>
    private static string ConfigJson(string family, ModelConfig c) => family switch
    {
        "mistral" => Invariant($$"""
            {
              "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": null, "eos_token_id": null, "head_dim": null,
              "hidden_act": "silu", "hidden_size": {{c.Dim}}, "initializer_range": 0.02, "intermediate_size": {{c.FfnDim}},
              "max_position_embeddings": {{c.ContextLength}}, "model_type": "mistral", "num_attention_heads": {{c.Heads}},
              "num_hidden_layers": {{c.Layers}}, "num_key_value_heads": {{c.KvHeads}}, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
              "sliding_window": {{c.SlidingWindow}}, "tie_word_embeddings": false, "torch_dtype": "float32", "transformers_version": "4.57.1",
              "use_cache": true, "vocab_size": {{c.VocabSize}}
            }
            """),
        "qwen3" => Invariant($$"""
            {
              "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": null, "eos_token_id": null,
              "head_dim": {{c.HeadDim}}, "hidden_act": "silu", "hidden_size": {{c.Dim}}, "initializer_range": 0.02, "intermediate_size": {{c.FfnDim}},
              "layer_types": ["full_attention", "full_attention"], "max_position_embeddings": {{c.ContextLength}}, "max_window_layers": {{c.Layers}},
              "model_type": "qwen3",
              "num_attention_heads": {{c.Heads}}, "num_hidden_layers": {{c.Layers}}, "num_key_value_heads": {{c.KvHeads}}, "rms_norm_eps": 1e-06,
              "rope_scaling": null, "rope_theta": 10000.0, "sliding_window": null, "tie_word_embeddings": true, "torch_dtype": "float32",
              "transformers_version": "4.57.1", "use_cache": true, "use_sliding_window": false, "vocab_size": {{c.VocabSize}}
            }
            """),
        "phi3" => Invariant($$"""
            {
              "architectures": ["Phi3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": null, "embd_pdrop": 0.0,
              "eos_token_id": null, "hidden_act": "silu", "hidden_size": {{c.Dim}}, "initializer_range": 0.02, "intermediate_size": {{c.FfnDim}},
              "max_position_embeddings": {{c.ContextLength}}, "model_type": "phi3", "num_attention_heads": {{c.Heads}},
              "num_hidden_layers": {{c.Layers}}, "num_key_value_heads": {{c.KvHeads}}, "original_max_position_embeddings": {{c.ContextLength}},
              "pad_token_id": null, "partial_rotary_factor": 1.0, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
              "sliding_window": {{c.SlidingWindow}}, "tie_word_embeddings": false, "torch_dtype": "float32", "transformers_version": "4.57.1",
              "use_cache": true, "vocab_size": {{c.VocabSize}}
            }
            """),
        _ => Invariant($$"""
            {
              "architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "attn_logit_softcapping": null,
              "bos_token_id": null, "eos_token_id": null, "final_logit_softcapping": null, "head_dim": {{c.HeadDim}},
              "hidden_activation": "gelu_pytorch_tanh", "hidden_size": {{c.Dim}}, "initializer_range": 0.02, "intermediate_size": {{c.FfnDim}},
              "layer_types": ["sliding_attention", "full_attention"], "max_position_embeddings": {{c.ContextLength}}, "model_type": "gemma3_text",
              "num_attention_heads": {{c.Heads}}, "num_hidden_layers": {{c.Layers}}, "num_key_value_heads": {{c.KvHeads}}, "pad_token_id": null,
              "query_pre_attn_scalar": {{c.QueryPreAttentionScalar}}, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0, "rope_scaling": null,
              "rope_theta": 1000000.0, "sliding_window": {{c.SlidingWindow}}, "torch_dtype": "float32", "transformers_version": "4.57.1",
              "use_bidirectional_attention": false, "use_cache": true, "vocab_size": {{c.VocabSize}}
            }
            """),
    };

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>PEFT's module names of the family's linear layers (Phi-3: its fused modules), as adapter keys end.</summary>
    private static string[] PeftModules(string family) => family == "phi3"
        ? ["self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj"]
        : ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    /// <summary>The reference's weights, rounded to float32, as a Hugging Face directory.</summary>
    private string WriteDirectory(string family, ReferenceDecoder reference)
    {
        string directory = Path.Combine(_temp.Path, family);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, HfConfig.FileName), ConfigJson(family, reference.Config));
        reference.WriteWeights(directory);
        new ByteChatTokenizer().WriteHfFiles(directory);
        return directory;
    }

    /// <summary>A config.json's architectures[0] and model_type.</summary>
    private static string[] ArchitectureAndType(string json)
    {
        using var document = JsonDocument.Parse(json);
        return [document.RootElement.GetProperty("architectures")[0].GetString()!, document.RootElement.GetProperty("model_type").GetString()!];
    }

    private static Dictionary<string, int[]> TensorShapes(string file)
    {
        using var weights = SafeTensors.Open(file);
        return weights.Tensors.Values.ToDictionary(t => t.Name, t => t.Shape);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ADirectoryLoadsWithTheReferencesLogitsTrainsSavesUnderItsNamesAndGenerates(string family)
    {
        var reference = ReferenceDecoder.Random(Config(family, new ByteChatTokenizer().VocabSize), seed: 3, scale: 0.5f);
        string directory = WriteDirectory(family, reference);

        using (var backend = new CpuBackend())
        using (var loaded = HfCheckpoint.Load(directory, backend))
        {
            Assert.Equal(reference.Config, loaded.Config);
            int[] ids = TestData.Ints(12, seed: 4, max: reference.Config.VocabSize);
            var batch = Batch.Unpacked(1, ids.Length, ids, new int[ids.Length]);
            using var tape = new Tape(backend, recordGradients: false);
            Check.Close(reference.Logits(batch), CpuBackend.F(loaded.Logits(tape, batch).Value), 1e-5, $"{family} logits of 12 tokens, window 5");
        }

        string run = Path.Combine(_temp.Path, "run"), data = CliRun.FourConversations(_temp);
        Assert.Equal((0, ""), CliRun.Run("sft", "--model", directory, "--data", data, "--eval-data", data, "--steps", "4", "--lr", "0.01", "--batch", "2",
            "--max-len", "64", "--backend", "cpu", "--out", run));
        var summary = FineTuneSummary.Read(run);
        Assert.Equal(4, summary.Steps);
        Assert.True(summary.TargetLossAfter < summary.TargetLossBefore, $"target loss {summary.TargetLossBefore} → {summary.TargetLossAfter}");

        string trained = Path.Combine(run, "model");
        Assert.Equal(reference.Config, HfConfig.Read(Path.Combine(trained, HfConfig.FileName)));
        Assert.Equal(ArchitectureAndType(ConfigJson(family, reference.Config)), ArchitectureAndType(File.ReadAllText(Path.Combine(trained, HfConfig.FileName))));
        var expected = ReferenceDecoder.Tensors(reference.Config).ToDictionary(t => t.Name, t => t.Shape);
        var saved = TensorShapes(Path.Combine(trained, ShardedCheckpoint.SingleFileName));
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), saved.Keys.Order(StringComparer.Ordinal));
        Assert.All(expected, t => Assert.Equal(t.Value, saved[t.Key]));

        Assert.Equal((0, ""), CliRun.Run("generate", "--model", trained, "--prompt", "hi", "--chat", "--max-new-tokens", "8", "--backend", "cpu"));
        Assert.Equal((0, ""), CliRun.Run("generate", "--model", directory, "--prompt", "a prompt longer than the window", "--max-new-tokens", "4", "--backend", "cpu"));
    }

    /// <summary>`sft --lora` on each family: the adapter's keys are PEFT's module names of that family, every layer's, A [r, in] and B [out, r]
    /// (Phi-3's B covers its fused module's rows), and the adapter generates on its base.</summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void LoraTrainsAnAdapterUnderTheFamilysPeftNames(string family)
    {
        var c = Config(family, new ByteChatTokenizer().VocabSize);
        string directory = WriteDirectory(family, ReferenceDecoder.Random(c, seed: 5, scale: 0.5f));
        string run = Path.Combine(_temp.Path, "lora"), data = CliRun.FourConversations(_temp);
        Assert.Equal((0, ""), CliRun.Run("sft", "--model", directory, "--data", data, "--eval-data", data, "--lora", "--lora-r", "4", "--steps", "3",
            "--lr", "0.05", "--batch", "2", "--max-len", "64", "--backend", "cpu", "--out", run));
        var summary = FineTuneSummary.Read(run);
        Assert.True(summary.TargetLossAfter < summary.TargetLossBefore, $"target loss {summary.TargetLossBefore} → {summary.TargetLossAfter}");

        string adapter = Path.Combine(run, "adapter");
        int q = c.Heads * c.HeadDim, kv = c.KvHeads * c.HeadDim;
        var rows = new Dictionary<string, (int Out, int In)>
        {
            ["self_attn.q_proj"] = (q, c.Dim), ["self_attn.k_proj"] = (kv, c.Dim), ["self_attn.v_proj"] = (kv, c.Dim), ["self_attn.qkv_proj"] = (q + 2 * kv, c.Dim),
            ["self_attn.o_proj"] = (c.Dim, q), ["mlp.gate_proj"] = (c.FfnDim, c.Dim), ["mlp.up_proj"] = (c.FfnDim, c.Dim),
            ["mlp.gate_up_proj"] = (2 * c.FfnDim, c.Dim), ["mlp.down_proj"] = (c.Dim, c.FfnDim),
        };
        var expected = new Dictionary<string, int[]>();
        for (int l = 0; l < c.Layers; l++)
            foreach (string module in PeftModules(family))
            {
                string key = $"base_model.model.model.layers.{l}.{module}";
                expected[key + ".lora_A.weight"] = [4, rows[module].In];
                expected[key + ".lora_B.weight"] = [rows[module].Out, 4];
            }
        var saved = TensorShapes(Path.Combine(adapter, PeftAdapter.WeightsFile));
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), saved.Keys.Order(StringComparer.Ordinal));
        Assert.All(expected, t => Assert.Equal(t.Value, saved[t.Key]));
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapter, PeftAdapter.ConfigFile))))
        {
            Assert.Equal("LORA", config.RootElement.GetProperty("peft_type").GetString());
            // all-linear is written as the module names it matched, as PEFT writes it (a set: order aside)
            Assert.Equal(PeftModules(family).Select(m => m[(m.LastIndexOf('.') + 1)..]).Order(StringComparer.Ordinal),
                config.RootElement.GetProperty("target_modules").EnumerateArray().Select(t => t.GetString()!).Order(StringComparer.Ordinal));
        }

        Assert.Equal((0, ""), CliRun.Run("generate", "--model", directory, "--adapter", adapter, "--prompt", "hi", "--chat", "--max-new-tokens", "4", "--backend", "cpu"));
    }
}
