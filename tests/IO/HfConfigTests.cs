using System.Text.Json;
using Engine.Backends;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Models;
using Xunit;
using Engine.Tests.Support;

namespace Engine.Tests.IO;

public class HfConfigTests
{
    /// <summary>The fields of Llama 3.1 8B's config.json.</summary>
    private const string Llama31 = """
        {
          "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 128000,
          "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
          "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
          "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
          "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
          "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.43.0.dev0",
          "use_cache": true, "vocab_size": 128256
        }
        """;

    /// <summary>The fields of Qwen2.5 0.5B's config.json.</summary>
    private const string Qwen25 = """
        {
          "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
          "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768,
          "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936
        }
        """;

    /// <summary>The fields of Mistral-7B-v0.1's config.json (a 4096-token sliding window; v0.2 and later write "sliding_window": null).</summary>
    private const string Mistral7B = """
        {
          "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
          "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
          "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
          "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0",
          "use_cache": true, "vocab_size": 32000
        }
        """;

    /// <summary>The fields of Qwen3-0.6B's config.json (head_dim 128 where hidden_size / heads is 64).</summary>
    private const string Qwen3 = """
        {
          "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 151643,
          "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024, "initializer_range": 0.02,
          "intermediate_size": 3072, "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
          "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": null,
          "rope_theta": 1000000, "sliding_window": null, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
          "transformers_version": "4.51.0", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936
        }
        """;

    /// <summary>The fields of gemma-3-1b-it's config.json (transformers 4.50: sliding_window_pattern, no layer_types).</summary>
    private const string Gemma3OneB = """
        {
          "architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "attn_logit_softcapping": null,
          "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": [1, 106], "final_logit_softcapping": null, "head_dim": 256,
          "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152, "initializer_range": 0.02, "intermediate_size": 6912,
          "max_position_embeddings": 32768, "model_type": "gemma3_text", "num_attention_heads": 4, "num_hidden_layers": 26,
          "num_key_value_heads": 1, "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
          "rope_scaling": null, "rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6, "torch_dtype": "bfloat16",
          "transformers_version": "4.50.0.dev0", "use_cache": true, "vocab_size": 262144
        }
        """;

    /// <summary>The fields of gemma-3-270m's config.json (transformers 4.55: layer_types written out, _sliding_window_pattern).</summary>
    private static readonly string Gemma3_270M = $$"""
        {
          "_sliding_window_pattern": 6, "architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
          "attn_logit_softcapping": null, "bos_token_id": 2, "eos_token_id": 1, "final_logit_softcapping": null, "head_dim": 256,
          "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 640, "initializer_range": 0.02, "intermediate_size": 2048,
          "layer_types": [{{string.Join(", ", Enumerable.Range(0, 18).Select(l => (l + 1) % 6 == 0 ? "\"full_attention\"" : "\"sliding_attention\""))}}],
          "max_position_embeddings": 32768, "model_type": "gemma3_text", "num_attention_heads": 4, "num_hidden_layers": 18,
          "num_key_value_heads": 1, "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0,
          "rope_scaling": null, "rope_theta": 1000000.0, "sliding_window": 512, "torch_dtype": "bfloat16", "transformers_version": "4.55.0.dev0",
          "use_bidirectional_attention": false, "use_cache": true, "vocab_size": 262144
        }
        """;

    /// <summary>The fields of Phi-3-mini-4k-instruct's config.json (auto_map and _name_or_path left out).</summary>
    private const string Phi3Mini = """
        {
          "architectures": ["Phi3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 1, "embd_pdrop": 0.0,
          "eos_token_id": 32000, "hidden_act": "silu", "hidden_size": 3072, "initializer_range": 0.02, "intermediate_size": 8192,
          "max_position_embeddings": 4096, "model_type": "phi3", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
          "original_max_position_embeddings": 4096, "pad_token_id": 32000, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05, "rope_scaling": null,
          "rope_theta": 10000.0, "sliding_window": 2047, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.40.2",
          "use_cache": true, "vocab_size": 32064
        }
        """;

    /// <summary>The fields of GPT-2 small's config.json.</summary>
    private const string Gpt2 = """
        {
          "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1, "bos_token_id": 50256,
          "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
          "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1,
          "summary_activation": null, "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
          "summary_use_proj": true, "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}}, "vocab_size": 50257
        }
        """;

    [Fact]
    public void ReadsLlama31()
    {
        var c = HfConfig.Parse(Llama31, "config.json");
        Assert.Equal(ModelConfig.Llama(128256, 131072, 32, 4096, 32, 8, 14336) with
        {
            NormEps = 1e-5f, RopeTheta = 500000, TiedEmbeddings = false, RopeScaling = new Llama3RopeScaling(8, 1, 4, 8192),
        }, c);
        Assert.Equal(128, c.HeadDim);
    }

    [Fact]
    public void ReadsQwen25AsLlamaFamilyWithQkvBias()
    {
        var c = HfConfig.Parse(Qwen25, "config.json");
        Assert.Equal(ModelConfig.Llama(151936, 32768, 24, 896, 14, 2, 4864) with
        {
            RopeTheta = 1_000_000, QkvBias = true, TiedEmbeddings = true,
        }, c);
        Assert.Equal(64, c.HeadDim);
    }

    /// <summary>sliding_window: a number is every layer's window, null is none, and an absent field is MistralConfig's default, 4096.</summary>
    [Fact]
    public void ReadsMistralWithItsSlidingWindow()
    {
        var c = HfConfig.Parse(Mistral7B, "config.json");
        Assert.Equal(ModelConfig.Llama(32000, 32768, 32, 4096, 32, 8, 14336) with
        {
            Family = ModelFamily.Mistral, NormEps = 1e-5f, TiedEmbeddings = false, SlidingWindow = 4096,
        }, c);
        Assert.All(Enumerable.Range(0, c.Layers), l => Assert.Equal(4096, c.AttentionWindow(l)));
        Assert.Equal(0, HfConfig.Parse(Mistral7B.Replace("\"sliding_window\": 4096", "\"sliding_window\": null"), "c").SlidingWindow);
        Assert.Equal(4096, HfConfig.Parse(Mistral7B.Replace("\"sliding_window\": 4096,", ""), "c").SlidingWindow);
        Assert.Equal(131072, HfConfig.Parse(Mistral7B.Replace("\"max_position_embeddings\": 32768,", ""), "c").ContextLength);
    }

    /// <summary>Qwen3: head norms, its own head_dim, and Qwen3Config's defaults when fields are absent (head_dim 128, 32 key-value heads).</summary>
    [Fact]
    public void ReadsQwen3WithItsHeadDim()
    {
        var c = HfConfig.Parse(Qwen3, "config.json");
        Assert.Equal(ModelConfig.Llama(151936, 40960, 28, 1024, 16, 8, 3072) with
        {
            Family = ModelFamily.Qwen3, HeadDim = 128, RopeTheta = 1_000_000, TiedEmbeddings = true,
        }, c);
        Assert.True(c.HeadNorms);
        var defaults = HfConfig.Parse(Qwen3.Replace("\"head_dim\": 128,", "").Replace("\"num_key_value_heads\": 8,", "").Replace("\"num_attention_heads\": 16", "\"num_attention_heads\": 32"), "c");
        Assert.Equal((128, 32), (defaults.HeadDim, defaults.KvHeads));
    }

    /// <summary>Phi-3: sliding_window on every layer, none when the field is absent (Phi3Config's default), rms_norm_eps 1e-5 by default.</summary>
    [Fact]
    public void ReadsPhi3WithItsSlidingWindow()
    {
        var c = HfConfig.Parse(Phi3Mini, "config.json");
        Assert.Equal(ModelConfig.Llama(32064, 4096, 32, 3072, 32, 32, 8192) with
        {
            Family = ModelFamily.Phi3, NormEps = 1e-5f, TiedEmbeddings = false, SlidingWindow = 2047,
        }, c);
        Assert.True(c.FusedProjections);
        Assert.All(Enumerable.Range(0, c.Layers), l => Assert.Equal(2047, c.AttentionWindow(l)));
        var defaults = HfConfig.Parse(Phi3Mini.Replace("\"sliding_window\": 2047,", "").Replace("\"rms_norm_eps\": 1e-05,", ""), "c");
        Assert.Equal((0, 1e-5f), (defaults.SlidingWindow, defaults.NormEps));
    }

    /// <summary>Gemma 3: every sixth layer global (θ 10⁶, no window), the others sliding (window 512, θ 10⁴); the older sliding_window_pattern
    /// and the newer layer_types give the same model, as do transformers 5's per-layer-type rope_parameters; Gemma3TextConfig's defaults
    /// when fields are absent.</summary>
    [Fact]
    public void ReadsGemma3WithItsLayerPattern()
    {
        var c = HfConfig.Parse(Gemma3OneB, "config.json");
        Assert.Equal(new ModelConfig
        {
            Family = ModelFamily.Gemma3, VocabSize = 262144, ContextLength = 32768, Layers = 26, Dim = 1152, Heads = 4, KvHeads = 1, HeadDim = 256,
            FfnDim = 6912, NormEps = 1e-6f, RopeTheta = 1_000_000, SlidingRopeTheta = 10_000, QueryPreAttentionScalar = 256, TiedEmbeddings = true,
            SlidingWindow = 512, SlidingWindowPattern = 6,
        }, c);
        Assert.Equal([5, 11, 17, 23], Enumerable.Range(0, c.Layers).Where(l => c.AttentionWindow(l) == 0));
        Assert.All(Enumerable.Range(0, c.Layers).Where(l => (l + 1) % 6 != 0), l => Assert.True(c.Slides(l) && c.AttentionWindow(l) == 512));

        var newer = HfConfig.Parse(Gemma3_270M, "config.json");
        Assert.Equal(c with { Layers = 18, Dim = 640, FfnDim = 2048 }, newer);
        string v5 = Gemma3_270M.Replace("\"rope_theta\": 1000000.0,", "").Replace("\"rope_local_base_freq\": 10000.0,", "").Replace("\"rope_scaling\": null,",
            "\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\", \"rope_theta\": 500000.0}, " +
            "\"sliding_attention\": {\"rope_type\": \"default\", \"rope_theta\": 20000.0}},");
        Assert.Equal(newer with { RopeTheta = 500_000, SlidingRopeTheta = 20_000 }, HfConfig.Parse(v5, "c"));

        var defaults = HfConfig.Parse("""
            { "model_type": "gemma3_text", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 12 }
            """, "c");
        Assert.Equal((8, 4, 256, 131072, 4096, 6, 256d, 1_000_000d, 10_000d, true),
            (defaults.Heads, defaults.KvHeads, defaults.HeadDim, defaults.ContextLength, defaults.SlidingWindow, defaults.SlidingWindowPattern,
             defaults.QueryPreAttentionScalar, defaults.RopeTheta, defaults.SlidingRopeTheta, defaults.TiedEmbeddings));
    }

    [Fact]
    public void ReadsGpt2()
    {
        var c = HfConfig.Parse(Gpt2, "config.json");
        Assert.Equal(ModelConfig.Gpt2(50257, 1024, 12, 768, 12), c);
        Assert.Equal(3072, c.FfnDim);
        Assert.Equal(1e-5f, c.NormEps);
    }

    public static TheoryData<string> RoundTripConfigs() => new()
    {
        "llama-tiny", "qwen2-tiny", "gpt2-tiny", "llama31", "qwen25", "gpt2", "gpt2-inner", "llama-headdim", "mistral-tiny", "mistral-no-window",
        "mistral7b", "qwen3-tiny", "qwen3", "phi3-tiny", "phi3-no-window", "phi3-mini", "gemma3-tiny", "gemma3-1b", "gemma3-270m",
        "gemma3-all-sliding",
    };

    private static ModelConfig Config(string name) => name switch
    {
        "llama-tiny" => TinyModels.Llama() with { QkvBias = false },
        "qwen2-tiny" => TinyModels.Llama(),
        "gpt2-tiny" => TinyModels.Gpt2(),
        "llama31" => HfConfig.Parse(Llama31, "config.json"),
        "qwen25" => HfConfig.Parse(Qwen25, "config.json"),
        "gpt2" => HfConfig.Parse(Gpt2, "config.json"),
        "gpt2-inner" => TinyModels.Gpt2() with { FfnDim = 20, NormEps = 1e-6f, TiedEmbeddings = false },
        "mistral-tiny" => TinyModels.Mistral(),
        "mistral-no-window" => TinyModels.Mistral() with { SlidingWindow = 0 },
        "mistral7b" => HfConfig.Parse(Mistral7B, "config.json"),
        "qwen3-tiny" => TinyModels.Qwen3(),
        "qwen3" => HfConfig.Parse(Qwen3, "config.json"),
        "phi3-tiny" => TinyModels.Phi3(),
        "phi3-no-window" => TinyModels.Phi3() with { SlidingWindow = 0, TiedEmbeddings = true },
        "phi3-mini" => HfConfig.Parse(Phi3Mini, "config.json"),
        "gemma3-tiny" => TinyModels.Gemma3(),
        "gemma3-1b" => HfConfig.Parse(Gemma3OneB, "config.json"),
        "gemma3-270m" => HfConfig.Parse(Gemma3_270M, "config.json"),
        "gemma3-all-sliding" => TinyModels.Gemma3() with { SlidingWindowPattern = 0 },
        _ => TinyModels.Llama() with { HeadDim = 6, NormEps = 3e-7f, RopeTheta = 12345.5 },
    };

    [Theory]
    [MemberData(nameof(RoundTripConfigs))]
    public void WriteThenReadGivesTheSameConfig(string name)
    {
        using var dir = new TempDirectory();
        var config = Config(name);
        string path = dir.File(HfConfig.FileName);
        HfConfig.Write(config, path, SafeTensorsDType.BF16);
        Assert.Equal(config, HfConfig.Read(path));

        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var root = json.RootElement;
        string type = root.GetProperty("model_type").GetString()!;
        Assert.Equal(config.Family switch
        {
            ModelFamily.Gpt2 => "gpt2", ModelFamily.Mistral => "mistral", ModelFamily.Qwen3 => "qwen3", ModelFamily.Phi3 => "phi3",
            ModelFamily.Gemma3 => "gemma3_text", _ => config.QkvBias ? "qwen2" : "llama",
        }, type);
        Assert.Equal(type switch
        {
            "gpt2" => "GPT2LMHeadModel", "qwen2" => "Qwen2ForCausalLM", "mistral" => "MistralForCausalLM", "qwen3" => "Qwen3ForCausalLM",
            "phi3" => "Phi3ForCausalLM", "gemma3_text" => "Gemma3ForCausalLM", _ => "LlamaForCausalLM",
        }, root.GetProperty("architectures")[0].GetString());
        if (type is "mistral" or "phi3")
            Assert.Equal(config.SlidingWindow == 0 ? JsonValueKind.Null : JsonValueKind.Number, root.GetProperty("sliding_window").ValueKind);
        Assert.Equal("bfloat16", root.GetProperty("torch_dtype").GetString());
        if (type == "gemma3_text")
        {
            Assert.Equal("gelu_pytorch_tanh", root.GetProperty("hidden_activation").GetString());
            Assert.Equal(Enumerable.Range(0, config.Layers).Select(l => config.Slides(l) ? "sliding_attention" : "full_attention"),
                root.GetProperty("layer_types").EnumerateArray().Select(t => t.GetString()));
        }
        else if (type != "gpt2")
        {
            Assert.Equal("silu", root.GetProperty("hidden_act").GetString());
            Assert.Contains(".", root.GetProperty("rope_theta").GetRawText()); // a Python float
        }
        else
        {
            Assert.Equal("gelu_new", root.GetProperty("activation_function").GetString());
        }
    }

    [Fact]
    public void ASlidingWindowIsWrittenForMistralAndPhi3Only()
    {
        var e = Assert.Throws<ArgumentException>(() => HfConfig.ToJson(TinyModels.Llama() with { SlidingWindow = 4 }));
        Assert.Contains("SlidingWindow 4", e.Message);
    }

    [Fact]
    public void RmsNormEpsIsWrittenInItsShortestForm()
    {
        string json = HfConfig.ToJson(TinyModels.Llama());
        Assert.Contains("\"rms_norm_eps\": 1E-06", json);
    }

    [Fact]
    public void NewerRopeParametersAndNullFieldsAreRead()
    {
        string json = Llama31.Replace("\"rope_scaling\": {", "\"rope_scaling\": null, \"head_dim\": null, \"rope_parameters\": {\"rope_theta\": 250000.0, ")
            .Replace("\"rope_theta\": 500000.0,", "");
        var c = HfConfig.Parse(json, "config.json");
        Assert.Equal(250000, c.RopeTheta);
        Assert.Equal(new Llama3RopeScaling(8, 1, 4, 8192), c.RopeScaling);
        Assert.Equal(128, c.HeadDim);
        Assert.Null(HfConfig.Parse(Llama31.Replace("\"rope_type\": \"llama3\"", "\"rope_type\": \"default\""), "c").RopeScaling);
    }

    public static TheoryData<string, string, string> BadConfigs() => new()
    {
        { Llama31.Replace("\"llama\"", "\"mixtral\""), "model_type 'mixtral' is not supported", "config.json" },
        { Mistral7B.Replace("\"sliding_window\": 4096", "\"sliding_window\": 0"), "sliding_window is 0, expected a positive number", "config.json" },
        { Mistral7B.Replace("\"silu\"", "\"gelu\""), "hidden_act 'gelu' is not supported for mistral", "config.json" },
        { Llama31.Replace("\"model_type\": \"llama\",", ""), "no model_type", "config.json" },
        { Llama31.Replace("\"silu\"", "\"gelu\""), "hidden_act 'gelu' is not supported for llama", "config.json" },
        { Gpt2.Replace("\"gelu_new\"", "\"relu\""), "activation_function 'relu' is not supported for gpt2", "config.json" },
        { Llama31.Replace("\"attention_bias\": false", "\"attention_bias\": true"), "attention_bias true", "config.json" },
        { Qwen25.Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true"), "use_sliding_window true", "config.json" },
        { Qwen3.Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true"), "use_sliding_window true (sliding-window attention on the layers past max_window_layers) is not supported for qwen3", "config.json" },
        { Qwen3.Replace("\"max_window_layers\": 28", "\"layer_types\": [\"full_attention\", \"sliding_attention\"]"), "use_sliding_window true", "config.json" },
        { Qwen3.Replace("\"attention_bias\": false", "\"attention_bias\": true"), "attention_bias true", "config.json" },
        { Phi3Mini.Replace("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [1.0], \"long_factor\": [2.0]}"),
            "rope scaling type 'longrope' (LongRoPE", "config.json" },
        { Phi3Mini.Replace("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"su\", \"short_factor\": [1.0], \"long_factor\": [2.0]}"),
            "Phi-3's 4k-context models have rope_scaling null", "config.json" },
        { Phi3Mini.Replace("\"rope_theta\": 10000.0", "\"rope_theta\": 10000.0, \"partial_rotary_factor\": 0.75"), "partial_rotary_factor 0.75", "config.json" },
        { Phi3Mini.Replace("\"silu\"", "\"gelu\""), "hidden_act 'gelu' is not supported for phi3", "config.json" },
        { Llama31.Replace("\"llama3\"", "\"yarn\""), "rope scaling type 'yarn' is not supported", "config.json" },
        { Llama31.Replace("\"low_freq_factor\": 1.0,", ""), "no 'low_freq_factor'", "config.json" },
        { Llama31.Replace("\"hidden_size\": 4096,", ""), "no 'hidden_size'", "config.json" },
        { Gpt2.Replace("\"n_embd\": 768,", ""), "no 'n_embd' or 'hidden_size'", "config.json" },
        { Llama31.Replace("\"hidden_size\": 4096", "\"hidden_size\": \"big\""), "'hidden_size' is \"big\", expected a 32-bit integer", "config.json" },
        { Llama31.Replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": 0"), "'tie_word_embeddings' is 0, expected true or false", "config.json" },
        { Llama31.Replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5"), "multiple of KvHeads", "config.json" },
        { Llama31.Replace("\"bfloat16\"", "\"int8\""), "torch_dtype 'int8'", "config.json" },
        { Llama31[..100], "not valid JSON", "config.json" },
        { Gemma3OneB.Replace("\"gemma3_text\"", "\"gemma3\""), "model_type 'gemma3' is Gemma 3's image-text checkpoint", "config.json" },
        { Gemma3OneB.Replace("\"final_logit_softcapping\": null", "\"final_logit_softcapping\": 30.0"), "final_logit_softcapping 30 (tanh soft-capping)", "config.json" },
        { Gemma3OneB.Replace("\"attn_logit_softcapping\": null", "\"attn_logit_softcapping\": 50.0"), "attn_logit_softcapping 50", "config.json" },
        { Gemma3OneB.Replace("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 8.0}"),
            "rope scaling type 'linear' is not supported for gemma3_text", "config.json" },
        { Gemma3OneB.Replace("\"gelu_pytorch_tanh\"", "\"gelu\""), "hidden_activation 'gelu' is not supported for gemma3_text", "config.json" },
        { Gemma3OneB.Replace("\"sliding_window\": 512", "\"sliding_window\": null"), "sliding_window null is not supported for gemma3_text", "config.json" },
        { Gemma3OneB.Replace("\"attention_bias\": false", "\"attention_bias\": true"), "attention_bias true is not supported for gemma3_text", "config.json" },
        { Gemma3_270M.Replace("\"use_bidirectional_attention\": false", "\"use_bidirectional_attention\": true"), "use_bidirectional_attention true", "config.json" },
        { Gemma3_270M.Replace("[\"sliding_attention\", ", "[\"full_attention\", "), "layer_types is not one period of sliding layers then a full one (layer 1 is sliding_attention, the period from the first full layer is 1)", "config.json" },
        { Gemma3_270M.Replace("[\"sliding_attention\", ", "[\"chunked_attention\", "), "layer_types holds 'chunked_attention'", "config.json" },
        { Gemma3_270M.Replace("[\"sliding_attention\", ", "["), "layer_types has 17 entries for 18 layers", "config.json" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void UnsupportedOrMalformedConfigsFailWithTheFieldNamed(string json, string expected, string source)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => HfConfig.Parse(json, source));
        Assert.StartsWith(source + ":", e.Message);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>
    /// Llama 3.1's scaling against transformers' _compute_llama3_parameters evaluated in float64 here: wavelen = 2π/f; f/factor above
    /// the low-frequency wavelength, f below the high-frequency one, and between them (1 − s)·f/factor + s·f with
    /// s = (original/wavelen − low)/(high − low). The engine follows PyTorch's float32 steps, so it matches to float32 rounding.
    /// </summary>
    [Fact]
    public void Llama3RopeScalingMatchesTheTransformersFormula()
    {
        var config = HfConfig.Parse(Llama31, "config.json");
        float[] plain = CpuRope.InverseFrequencies(128, 500000);
        float[] scaled = config.RopeInverseFrequencies();
        Assert.Equal(64, scaled.Length);

        double factor = 8, low = 1, high = 4, original = 8192;
        int kept = 0, divided = 0, smoothed = 0;
        for (int i = 0; i < 64; i++)
        {
            double f = plain[i], wavelen = 2 * Math.PI / f, expected;
            if (wavelen < original / high)
            {
                expected = f;
                kept++;
                Assert.Equal(plain[i], scaled[i]);
            }
            else if (wavelen > original / low)
            {
                expected = f / factor;
                divided++;
                Assert.Equal(plain[i] / 8f, scaled[i]);
            }
            else
            {
                double s = (original / wavelen - low) / (high - low);
                expected = (1 - s) * f / factor + s * f;
                smoothed++;
            }
            Assert.True(Math.Abs(scaled[i] - expected) <= 1e-6 * expected, $"invFreq[{i}]: expected {expected:E9}, got {scaled[i]:E9}");
        }
        Assert.True(kept > 0 && divided > 0 && smoothed > 0, $"regimes: {kept} kept, {divided} divided, {smoothed} smoothed");
        Assert.Equal(CpuRope.InverseFrequencies(128, 500000), (config with { RopeScaling = null }).RopeInverseFrequencies());
    }

    [Fact]
    public void TransformerUsesTheScaledTable()
    {
        using var backend = new CpuBackend();
        var plainConfig = TinyModels.Llama() with { RopeTheta = 500000 };
        var batch = TinyModels.PackedBatch(plainConfig.VocabSize);
        float[] Logits(ModelConfig config)
        {
            using var model = new Transformer(backend, config, seed: 9);
            using var tape = new Engine.Autograd.Tape(backend, recordGradients: false);
            return CpuBackend.F(model.Logits(tape, batch).Value).ToArray();
        }
        // With headDim 4 and original context 16, the second frequency (wavelength ≈ 4443) is divided by 1000 and the first smoothed: positions 1..5 see both.
        var scaled = Logits(plainConfig with { RopeScaling = new Llama3RopeScaling(1000, 1, 4, 16) });
        Assert.NotEqual(Logits(plainConfig), scaled);
    }
}
