using System.Globalization;
using System.Text.Json;
using Engine.Models;

namespace Engine.IO;

/// <summary>
/// Hugging Face config.json for Llama (model_type "llama"), Qwen2 ("qwen2"), Mistral ("mistral"), Qwen3 ("qwen3"), Phi-3 ("phi3"), Gemma 3
/// text ("gemma3_text") and GPT-2 ("gpt2") to and from <see cref="ModelConfig"/>. A Llama-family config with q/k/v bias is Qwen2; Mistral's and Phi-3's sliding_window becomes
/// every layer's attention window. Anything the engine's model cannot run (another activation, o_proj bias, Qwen2's and Qwen3's sliding-window
/// layers, a RoPE scaling other than llama3 such as Phi-3's LongRoPE, partial rotary embeddings, quantization) is refused with the field named.
/// </summary>
public static class HfConfig
{
    public const string FileName = "config.json";

    public static ModelConfig Read(string path)
    {
        if (!File.Exists(path)) throw new CheckpointFormatException($"{path}: not found");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses config.json text; source names the file in error messages.</summary>
    public static ModelConfig Parse(string json, string source) =>
        JsonFields.Parse(json, source, fields =>
        {
            string modelType = fields.String("model_type") ?? throw fields.Error("no model_type");
            if (fields.Has("quantization_config")) throw fields.Error("quantized checkpoints (quantization_config) are not supported");
            string? dtype = fields.String("torch_dtype", "dtype");
            if (dtype is not (null or "float32" or "float16" or "bfloat16" or "float64"))
                throw fields.Error($"torch_dtype '{dtype}' is not supported: float32, float16 or bfloat16");
            var config = modelType switch
            {
                "llama" or "qwen2" or "mistral" or "qwen3" or "phi3" => LlamaFamily(fields, modelType),
                "gemma3_text" => Gemma3(fields),
                "gemma3" => throw fields.Error("model_type 'gemma3' is Gemma 3's image-text checkpoint (Gemma3ForConditionalGeneration: a vision tower " +
                                               "and a text_config) and is not supported; the text-only gemma3_text (Gemma3ForCausalLM: gemma-3-270m, gemma-3-1b) is"),
                "gpt2" => Gpt2(fields),
                _ => throw fields.Error($"model_type '{modelType}' is not supported: llama, qwen2, qwen3, mistral, phi3, gemma3_text or gpt2"),
            };
            try
            {
                config.Validate();
            }
            catch (ArgumentException e)
            {
                throw new CheckpointFormatException($"{source}: {e.Message}", e);
            }
            return config;
        });

    /// <summary>The model_type a config is written as: gpt2, mistral, qwen3, phi3, qwen2 (Llama family with q/k/v bias) or llama.</summary>
    public static string ModelType(ModelConfig config) => config.Family switch
    {
        ModelFamily.Gpt2 => "gpt2",
        ModelFamily.Mistral => "mistral",
        ModelFamily.Qwen3 => "qwen3",
        ModelFamily.Phi3 => "phi3",
        ModelFamily.Gemma3 => "gemma3_text",
        _ => config.QkvBias ? "qwen2" : "llama",
    };

    /// <summary>Writes config.json (atomically) that transformers loads as the same model; weightsDType sets torch_dtype,
    /// ids the bos/eos/pad_token_id fields (those known).</summary>
    public static void Write(ModelConfig config, string path, SafeTensorsDType weightsDType = SafeTensorsDType.F32, SpecialTokenIds? ids = null)
    {
        string json = ToJson(config, weightsDType, ids);
        AtomicFile.Write(path, stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(json)));
    }

    public static string ToJson(ModelConfig config, SafeTensorsDType weightsDType = SafeTensorsDType.F32, SpecialTokenIds? ids = null)
    {
        config.Validate();
        if (config.SlidingWindow != 0 && config.Family is not (ModelFamily.Mistral or ModelFamily.Phi3 or ModelFamily.Gemma3))
            throw new ArgumentException($"a {ModelType(config)} config.json has no sliding window; SlidingWindow {config.SlidingWindow} is written for Mistral, Phi-3 and Gemma 3 only");
        string torchDtype = weightsDType switch
        {
            SafeTensorsDType.F32 => "float32",
            SafeTensorsDType.F16 => "float16",
            SafeTensorsDType.BF16 => "bfloat16",
            _ => throw new ArgumentException($"weights are written as F32, F16 or BF16, not {weightsDType}", nameof(weightsDType)),
        };
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            if (config.Family == ModelFamily.Gpt2) WriteGpt2(w, config);
            else if (config.IsGemma) WriteGemma3(w, config);
            else WriteLlamaFamily(w, config);
            (ids ?? SpecialTokenIds.None).Write(w);
            w.WriteString("torch_dtype", torchDtype);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>llama, qwen2, mistral, qwen3 or phi3: one block layout; Qwen2 adds the q/k/v bias, Mistral the sliding window, Qwen3 the head norms
    /// (and its own defaults: head_dim 128, num_key_value_heads 32, as Qwen3Config has them), Phi-3 the fused checkpoint tensors and a
    /// sliding window (none when absent, as Phi3Config).</summary>
    private static ModelConfig LlamaFamily(JsonFields f, string modelType)
    {
        bool qwen2 = modelType == "qwen2", qwen3 = modelType == "qwen3", phi3 = modelType == "phi3";
        int dim = f.RequiredInt("hidden_size"), heads = f.RequiredInt("num_attention_heads");
        string activation = f.String("hidden_act") ?? "silu";
        if (activation != "silu") throw f.Error($"hidden_act '{activation}' is not supported for {modelType}: only silu");
        if (!qwen2 && f.Bool("attention_bias") == true)
            throw f.Error("attention_bias true (a bias on q, k, v and o_proj) is not supported; Qwen2's q/k/v-only bias is");
        if (f.Bool("mlp_bias") == true) throw f.Error("mlp_bias true is not supported");
        if ((qwen2 || qwen3) && (f.Bool("use_sliding_window") == true || f.Strings("layer_types")?.Contains("sliding_attention") == true))
            throw f.Error($"use_sliding_window true (sliding-window attention on the layers past max_window_layers) is not supported for {modelType}: " +
                          "its layers would mix windowed and full attention; every released checkpoint has it false");
        if (f.Double("partial_rotary_factor") is { } partial && partial != 1)
            throw f.Error($"partial_rotary_factor {partial} (RoPE on part of each head, as Phi-4-mini has it) is not supported: only 1");
        var (theta, scaling) = Rope(f);
        int? headDim = f.Int("head_dim") ?? (qwen3 ? 128 : null);
        if (headDim is null && dim % heads != 0) throw f.Error($"hidden_size {dim} is not a multiple of num_attention_heads {heads}, and there is no head_dim");
        return new ModelConfig
        {
            Family = modelType switch { "mistral" => ModelFamily.Mistral, "qwen3" => ModelFamily.Qwen3, "phi3" => ModelFamily.Phi3, _ => ModelFamily.Llama },
            VocabSize = f.RequiredInt("vocab_size"),
            ContextLength = f.Int("max_position_embeddings") ?? modelType switch
            {
                "qwen2" or "qwen3" => 32768, "mistral" => 4096 * 32, "phi3" => 4096, _ => 2048,
            },
            Layers = f.RequiredInt("num_hidden_layers"),
            Dim = dim,
            Heads = heads,
            KvHeads = f.Int("num_key_value_heads") ?? (qwen3 ? 32 : heads),
            HeadDim = headDim ?? dim / heads,
            FfnDim = f.RequiredInt("intermediate_size"),
            NormEps = (float)(f.Double("rms_norm_eps") ?? (phi3 ? 1e-5 : 1e-6)),
            RopeTheta = theta,
            RopeScaling = scaling,
            QkvBias = qwen2,
            TiedEmbeddings = f.Bool("tie_word_embeddings") ?? false,
            SlidingWindow = modelType switch { "mistral" => Window(f, absent: 4096), "phi3" => Window(f, absent: 0), _ => 0 },
        };
    }

    /// <summary>
    /// Mistral's and Phi-3's sliding_window: a number W (each query attends its last W keys, itself included, as transformers' sdpa and eager
    /// masks do: masking_utils.sliding_window_overlay keeps kv_idx &gt; q_idx − W), null for none, and the config class's default when the field
    /// is absent (MistralConfig 4096, Phi3Config none). Both models apply it to every layer (they ignore layer_types), and so does the engine.
    /// </summary>
    private static int Window(JsonFields f, int absent)
    {
        if (!f.Present("sliding_window")) return absent;
        int? window = f.Int("sliding_window");
        if (window <= 0) throw f.Error($"sliding_window is {window}, expected a positive number of tokens or null");
        return window ?? 0;
    }

    /// <summary>rope_theta and rope_scaling, or the newer rope_parameters object that holds both.</summary>
    private static (double Theta, Llama3RopeScaling? Scaling) Rope(JsonFields f)
    {
        var parameters = f.Object("rope_parameters");
        var scaling = parameters ?? f.Object("rope_scaling");
        double theta = (parameters ?? f).Double("rope_theta") ?? 10000;
        if (scaling is null) return (theta, null);
        string type = scaling.String("rope_type", "type") ?? "default";
        if (type == "default") return (theta, null);
        if (type is "longrope" or "su")
            throw f.Error($"rope scaling type '{type}' (LongRoPE: per-frequency short_factor/long_factor rescaling, Phi-3's 128k-context variants) " +
                          "is not supported: only llama3; Phi-3's 4k-context models have rope_scaling null");
        if (type != "llama3") throw f.Error($"rope scaling type '{type}' is not supported: only llama3");
        return (theta, new Llama3RopeScaling(
            scaling.RequiredDouble("factor"), scaling.RequiredDouble("low_freq_factor"), scaling.RequiredDouble("high_freq_factor"),
            scaling.RequiredInt("original_max_position_embeddings")));
    }

    /// <summary>
    /// gemma3_text, with Gemma3TextConfig's defaults for what is absent. layer_types (or the older sliding_window_pattern P, default 6) must be
    /// one period of P − 1 sliding layers and a full one, as every released Gemma 3 has it. Global layers take rope_theta, sliding ones
    /// rope_local_base_freq (or rope_parameters' full_attention / sliding_attention θ). Soft-capping, a RoPE scaling (the 4B–27B image-text
    /// checkpoints' linear one), biases and bidirectional attention are refused.
    /// </summary>
    private static ModelConfig Gemma3(JsonFields f)
    {
        string activation = f.String("hidden_activation", "hidden_act") ?? "gelu_pytorch_tanh";
        if (activation != "gelu_pytorch_tanh") throw f.Error($"hidden_activation '{activation}' is not supported for gemma3_text: only gelu_pytorch_tanh");
        foreach (string field in new[] { "final_logit_softcapping", "attn_logit_softcapping" })
            if (f.Double(field) is { } cap) throw f.Error($"{field} {cap} (tanh soft-capping) is not supported: only null, as Gemma 3 has it");
        if (f.Bool("attention_bias") == true) throw f.Error("attention_bias true is not supported for gemma3_text");
        if (f.Bool("use_bidirectional_attention") == true) throw f.Error("use_bidirectional_attention true (EmbeddingGemma) is not supported: a decoder attends causally");
        int layers = f.RequiredInt("num_hidden_layers");
        var (theta, slidingTheta) = GemmaRope(f);
        int window = Window(f, absent: 4096);
        if (window == 0) throw f.Error("sliding_window null is not supported for gemma3_text: its sliding layers need a window");
        return new ModelConfig
        {
            Family = ModelFamily.Gemma3,
            VocabSize = f.RequiredInt("vocab_size"),
            ContextLength = f.Int("max_position_embeddings") ?? 131072,
            Layers = layers,
            Dim = f.RequiredInt("hidden_size"),
            Heads = f.Int("num_attention_heads") ?? 8,
            KvHeads = f.Int("num_key_value_heads") ?? 4,
            HeadDim = f.Int("head_dim") ?? 256,
            FfnDim = f.RequiredInt("intermediate_size"),
            NormEps = (float)(f.Double("rms_norm_eps") ?? 1e-6),
            RopeTheta = theta,
            SlidingRopeTheta = slidingTheta,
            QueryPreAttentionScalar = f.Double("query_pre_attn_scalar") ?? 256,
            TiedEmbeddings = f.Bool("tie_word_embeddings") ?? true,
            SlidingWindow = window,
            SlidingWindowPattern = GemmaPattern(f, layers),
        };
    }

    /// <summary>The period P of layer_types (layer l full when (l + 1) mod P = 0, else sliding; 0 when none is full), or sliding_window_pattern.</summary>
    private static int GemmaPattern(JsonFields f, int layers)
    {
        if (f.Strings("layer_types") is not { } types) return f.Int("sliding_window_pattern", "_sliding_window_pattern") ?? 6;
        if (types.Count != layers) throw f.Error($"layer_types has {types.Count} entries for {layers} layers");
        if (types.FirstOrDefault(t => t is not ("sliding_attention" or "full_attention")) is { } other)
            throw f.Error($"layer_types holds '{other}': only sliding_attention and full_attention");
        int period = types.ToList().IndexOf("full_attention") + 1;
        for (int l = 0; l < layers; l++)
            if ((types[l] == "full_attention") != (period > 0 && (l + 1) % period == 0))
                throw f.Error($"layer_types is not one period of sliding layers then a full one (layer {l} is {types[l]}, the period from the first " +
                              $"full layer is {period}): the engine's Gemma 3 layers follow one pattern");
        return period;
    }

    /// <summary>Gemma 3's global and sliding RoPE θ: rope_parameters' full_attention and sliding_attention objects (transformers 5), or rope_theta
    /// and rope_local_base_freq with rope_scaling; any scaling but the default is refused.</summary>
    private static (double Global, double Sliding) GemmaRope(JsonFields f)
    {
        var parameters = f.Object("rope_parameters");
        var full = parameters?.Object("full_attention") ?? parameters;
        var sliding = parameters?.Object("sliding_attention");
        foreach (var scaling in new[] { full ?? f.Object("rope_scaling"), sliding })
            if (scaling?.String("rope_type", "type") is { } type && type != "default")
                throw f.Error($"rope scaling type '{type}' is not supported for gemma3_text: only none (the 4B–27B image-text checkpoints scale " +
                              "their global layers linearly; gemma-3-270m and gemma-3-1b do not)");
        return ((full ?? f).Double("rope_theta") ?? 1_000_000, sliding?.Double("rope_theta") ?? f.Double("rope_local_base_freq") ?? 10_000);
    }

    /// <summary>The fields every RoPE family writes alike: architectures, model_type, the sizes, rms_norm_eps and rope_theta.</summary>
    private static void WriteRopeFamilyShape(Utf8JsonWriter w, ModelConfig c, string architecture)
    {
        w.WriteStartArray("architectures");
        w.WriteStringValue(architecture);
        w.WriteEndArray();
        w.WriteString("model_type", ModelType(c));
        w.WriteNumber("vocab_size", c.VocabSize);
        w.WriteNumber("hidden_size", c.Dim);
        w.WriteNumber("intermediate_size", c.FfnDim);
        w.WriteNumber("num_hidden_layers", c.Layers);
        w.WriteNumber("num_attention_heads", c.Heads);
        w.WriteNumber("num_key_value_heads", c.KvHeads);
        w.WriteNumber("head_dim", c.HeadDim);
        w.WriteNumber("max_position_embeddings", c.ContextLength);
        JsonFields.WriteFloat(w, "rms_norm_eps", JsonFields.Widen(c.NormEps));
        JsonFields.WriteFloat(w, "rope_theta", c.RopeTheta);
    }

    private static void WriteGemma3(Utf8JsonWriter w, ModelConfig c)
    {
        WriteRopeFamilyShape(w, c, "Gemma3ForCausalLM");
        JsonFields.WriteFloat(w, "rope_local_base_freq", c.SlidingRopeTheta);
        w.WriteNull("rope_scaling");
        JsonFields.WriteFloat(w, "query_pre_attn_scalar", c.QueryPreAttentionScalar);
        w.WriteNumber("sliding_window", c.SlidingWindow);
        if (c.SlidingWindowPattern > 0) w.WriteNumber("sliding_window_pattern", c.SlidingWindowPattern);
        w.WriteStartArray("layer_types");
        for (int l = 0; l < c.Layers; l++) w.WriteStringValue(c.Slides(l) ? "sliding_attention" : "full_attention");
        w.WriteEndArray();
        w.WriteString("hidden_activation", "gelu_pytorch_tanh");
        w.WriteNull("final_logit_softcapping");
        w.WriteNull("attn_logit_softcapping");
        w.WriteBoolean("attention_bias", false);
        w.WriteBoolean("tie_word_embeddings", c.TiedEmbeddings);
    }

    private static ModelConfig Gpt2(JsonFields f)
    {
        int dim = f.RequiredInt("n_embd", "hidden_size"), heads = f.RequiredInt("n_head", "num_attention_heads");
        if (dim % heads != 0) throw f.Error($"n_embd {dim} is not a multiple of n_head {heads}");
        string activation = f.String("activation_function", "hidden_act") ?? "gelu_new";
        if (activation is not ("gelu_new" or "gelu_pytorch_tanh"))
            throw f.Error($"activation_function '{activation}' is not supported for gpt2: gelu_new or gelu_pytorch_tanh (the tanh approximation)");
        if (f.Bool("scale_attn_weights") == false) throw f.Error("scale_attn_weights false is not supported");
        if (f.Bool("scale_attn_by_inverse_layer_idx") == true) throw f.Error("scale_attn_by_inverse_layer_idx true is not supported");
        if (f.Bool("add_cross_attention") == true) throw f.Error("add_cross_attention true is not supported");
        var config = ModelConfig.Gpt2(f.RequiredInt("vocab_size"), f.Int("n_positions", "max_position_embeddings") ?? 1024,
            f.RequiredInt("n_layer", "num_hidden_layers"), dim, heads);
        return config with
        {
            FfnDim = f.Int("n_inner") ?? 4 * dim,
            NormEps = (float)(f.Double("layer_norm_epsilon") ?? 1e-5),
            TiedEmbeddings = f.Bool("tie_word_embeddings") ?? true,
        };
    }

    private static void WriteLlamaFamily(Utf8JsonWriter w, ModelConfig c)
    {
        string modelType = ModelType(c);
        WriteRopeFamilyShape(w, c, modelType switch
        {
            "qwen2" => "Qwen2ForCausalLM", "mistral" => "MistralForCausalLM", "qwen3" => "Qwen3ForCausalLM", "phi3" => "Phi3ForCausalLM",
            _ => "LlamaForCausalLM",
        });
        if (c.RopeScaling is { } s)
        {
            w.WriteStartObject("rope_scaling");
            w.WriteString("rope_type", "llama3");
            JsonFields.WriteFloat(w, "factor", s.Factor);
            JsonFields.WriteFloat(w, "low_freq_factor", s.LowFreqFactor);
            JsonFields.WriteFloat(w, "high_freq_factor", s.HighFreqFactor);
            w.WriteNumber("original_max_position_embeddings", s.OriginalContextLength);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("rope_scaling");
        }
        w.WriteString("hidden_act", "silu");
        w.WriteBoolean("tie_word_embeddings", c.TiedEmbeddings);
        switch (modelType)
        {
            case "qwen2":
                w.WriteBoolean("use_sliding_window", false);
                break;
            case "qwen3":
                w.WriteBoolean("attention_bias", false);
                w.WriteBoolean("use_sliding_window", false);
                w.WriteNull("sliding_window");
                break;
            case "mistral" or "phi3":
                if (modelType == "phi3") w.WriteBoolean("attention_bias", false);
                if (c.SlidingWindow == 0) w.WriteNull("sliding_window");
                else w.WriteNumber("sliding_window", c.SlidingWindow);
                break;
            default:
                w.WriteBoolean("attention_bias", false);
                w.WriteBoolean("mlp_bias", false);
                break;
        }
    }

    private static void WriteGpt2(Utf8JsonWriter w, ModelConfig c)
    {
        if (c.HeadDim * c.Heads != c.Dim) throw new ArgumentException($"GPT-2 needs HeadDim × Heads = Dim, got {c.HeadDim} × {c.Heads} ≠ {c.Dim}");
        w.WriteStartArray("architectures");
        w.WriteStringValue("GPT2LMHeadModel");
        w.WriteEndArray();
        w.WriteString("model_type", "gpt2");
        w.WriteNumber("vocab_size", c.VocabSize);
        w.WriteNumber("n_embd", c.Dim);
        w.WriteNumber("n_layer", c.Layers);
        w.WriteNumber("n_head", c.Heads);
        if (c.FfnDim == 4 * c.Dim) w.WriteNull("n_inner");
        else w.WriteNumber("n_inner", c.FfnDim);
        w.WriteNumber("n_positions", c.ContextLength);
        w.WriteNumber("n_ctx", c.ContextLength);
        JsonFields.WriteFloat(w, "layer_norm_epsilon", JsonFields.Widen(c.NormEps));
        w.WriteString("activation_function", "gelu_new");
        w.WriteBoolean("tie_word_embeddings", c.TiedEmbeddings);
    }

}
