using Engine.Autograd;
using Engine.Backends;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Training;
using Xunit;
using Engine.Tests.Support;

namespace Engine.Tests.IO;

public class HfCheckpointTests
{
    private static float[] Logits(Transformer model, Batch batch)
    {
        using var tape = new Tape(model.Backend, recordGradients: false);
        return CpuBackend.F(model.Logits(tape, batch).Value).ToArray();
    }

    private static ModelConfig Config(string name) => name switch
    {
        "gpt2" => TinyModels.Gpt2(),
        "gpt2-untied" => TinyModels.Gpt2() with { TiedEmbeddings = false, FfnDim = 20 },
        "llama-gqa-qkvbias-untied" => TinyModels.Llama(),
        "mistral-window" => TinyModels.Mistral(),
        "mistral-no-window-tied" => TinyModels.Mistral() with { SlidingWindow = 0, TiedEmbeddings = true },
        "qwen3-head-norms" => TinyModels.Qwen3(),
        "phi3-fused" => TinyModels.Phi3(),
        "gemma3" => TinyModels.Gemma3(),
        _ => TinyModels.Llama() with { QkvBias = false, TiedEmbeddings = true, RopeScaling = new Llama3RopeScaling(4, 1, 4, 4) },
    };

    private static void AssertSameModel(Transformer expected, Transformer actual, Batch batch)
    {
        Assert.Equal(expected.Config, actual.Config);
        var want = IoFiles.Snapshot(expected);
        var got = IoFiles.Snapshot(actual);
        Assert.Equal(want.Keys.Order(), got.Keys.Order());
        foreach (var (name, values) in want) IoFiles.AssertBitEqual(values, got[name], name);
        IoFiles.AssertBitEqual(Logits(expected, batch), Logits(actual, batch), "logits");
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("gpt2-untied")]
    [InlineData("llama-gqa-qkvbias-untied")]
    [InlineData("llama-tied-rope-scaled")]
    [InlineData("mistral-window")]
    [InlineData("mistral-no-window-tied")]
    [InlineData("qwen3-head-norms")]
    [InlineData("phi3-fused")]
    [InlineData("gemma3")]
    public void SaveThenLoadIsBitExact(string name)
    {
        using var dir = new TempDirectory();
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, Config(name), seed: 5);
        HfCheckpoint.Save(model, dir.Path);
        Assert.Equal([HfConfig.FileName, ModelMetadata.GenerationConfigFile, ShardedCheckpoint.SingleFileName],
            Directory.GetFiles(dir.Path).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal));

        using (var file = SafeTensors.Open(dir.File(ShardedCheckpoint.SingleFileName)))
        {
            Assert.Equal(!model.Config.TiedEmbeddings, file.Tensors.ContainsKey("lm_head.weight"));
            if (model.Config.Family == ModelFamily.Gpt2)
            {
                Assert.Equal([8, 24], file.Info("transformer.h.1.attn.c_attn.weight").Shape);
                Assert.Equal([model.Config.FfnDim, 8], file.Info("transformer.h.0.mlp.c_proj.weight").Shape);
                Assert.True(file.Tensors.ContainsKey("transformer.wpe.weight"));
                Assert.All(file.Tensors.Keys.Where(n => n != "lm_head.weight"), n => Assert.StartsWith("transformer.", n));
            }
            else
            {
                var c = model.Config;
                if (c.FusedProjections)
                {
                    Assert.Equal([(c.Heads + 2 * c.KvHeads) * c.HeadDim, 8], file.Info("model.layers.1.self_attn.qkv_proj.weight").Shape);
                    Assert.Equal([2 * c.FfnDim, 8], file.Info("model.layers.1.mlp.gate_up_proj.weight").Shape);
                    Assert.False(file.Tensors.ContainsKey("model.layers.1.self_attn.v_proj.weight"));
                }
                else
                {
                    Assert.Equal([c.KvHeads * c.HeadDim, 8], file.Info("model.layers.1.self_attn.v_proj.weight").Shape);
                }
                Assert.Equal(model.Config.HeadNorms, file.Tensors.ContainsKey("model.layers.1.self_attn.k_norm.weight"));
                if (model.Config.HeadNorms) Assert.Equal([model.Config.HeadDim], file.Info("model.layers.1.self_attn.k_norm.weight").Shape);
            }
        }

        using var loaded = HfCheckpoint.Load(dir.Path, backend);
        AssertSameModel(model, loaded, TinyModels.PackedBatch(model.Config.VocabSize));
    }

    [Fact]
    public void ShardedSaveLoadsBitExact()
    {
        using var dir = new TempDirectory();
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Llama(), seed: 6);
        HfCheckpoint.Save(model, dir.Path, maxShardBytes: 1024);
        Assert.True(Directory.GetFiles(dir.Path, "model-*-of-*.safetensors").Length > 2);
        Assert.True(File.Exists(dir.File(ShardedCheckpoint.IndexFileName)));
        using var loaded = HfCheckpoint.Load(dir.Path, backend);
        AssertSameModel(model, loaded, TinyModels.PackedBatch(model.Config.VocabSize));
    }

    [Fact]
    public void Bf16SaveLoadsRoundedWeights()
    {
        using var dir = new TempDirectory();
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 7);
        HfCheckpoint.Save(model, dir.Path, SafeTensorsDType.BF16);
        Assert.Contains("\"torch_dtype\": \"bfloat16\"", File.ReadAllText(dir.File(HfConfig.FileName)));
        using var loaded = HfCheckpoint.Load(dir.Path, backend);
        var got = IoFiles.Snapshot(loaded);
        foreach (var (name, values) in IoFiles.Snapshot(model))
            IoFiles.AssertBitEqual(values.Select(IoFiles.RoundToBf16).ToArray(), got[name], name);
    }

    /// <summary>
    /// A GPT-2 checkpoint in Hugging Face's own layout, built here by hand from a model's weights: Conv1D matrices stored [in, out],
    /// q, k and v side by side in c_attn, the attention-mask buffers older checkpoints carry, and (GPT2LMHeadModel) the "transformer."
    /// prefix with a tied lm_head copy. It must load to the same weights and the same logits as the model it was built from.
    /// </summary>
    [Theory]
    [InlineData("")]
    [InlineData("transformer.")]
    public void Gpt2InHuggingFaceLayoutLoadsToTheSameModel(string prefix)
    {
        using var dir = new TempDirectory();
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 8);
        var w = IoFiles.Snapshot(model);
        const int c = 8, f = 32, vocab = 11, context = 8;

        var tensors = new List<NamedTensor>();
        void Add(string name, int[] shape, float[] values) => tensors.Add(NamedTensor.Of(prefix + name, shape, values));
        static float[] Transpose(float[] m, int rows, int columns)
        {
            var t = new float[m.Length];
            for (int r = 0; r < rows; r++)
                for (int col = 0; col < columns; col++) t[col * rows + r] = m[r * columns + col];
            return t;
        }

        Add("wte.weight", [vocab, c], w["model.embed_tokens.weight"]);
        Add("wpe.weight", [context, c], w["model.embed_positions.weight"]);
        for (int l = 0; l < 2; l++)
        {
            string h = $"h.{l}.", o = $"model.layers.{l}.";
            Add(h + "ln_1.weight", [c], w[o + "input_layernorm.weight"]);
            Add(h + "ln_1.bias", [c], w[o + "input_layernorm.bias"]);
            var cAttn = new float[c * 3 * c];
            for (int i = 0; i < c; i++)
                for (int j = 0; j < 3 * c; j++)
                    cAttn[i * 3 * c + j] = w[o + "self_attn." + "qkv"[j / c] + "_proj.weight"][j % c * c + i];
            Add(h + "attn.c_attn.weight", [c, 3 * c], cAttn);
            Add(h + "attn.c_attn.bias", [3 * c],
                [.. w[o + "self_attn.q_proj.bias"], .. w[o + "self_attn.k_proj.bias"], .. w[o + "self_attn.v_proj.bias"]]);
            Add(h + "attn.c_proj.weight", [c, c], Transpose(w[o + "self_attn.o_proj.weight"], c, c));
            Add(h + "attn.c_proj.bias", [c], w[o + "self_attn.o_proj.bias"]);
            Add(h + "ln_2.weight", [c], w[o + "post_attention_layernorm.weight"]);
            Add(h + "ln_2.bias", [c], w[o + "post_attention_layernorm.bias"]);
            Add(h + "mlp.c_fc.weight", [c, f], Transpose(w[o + "mlp.up_proj.weight"], f, c));
            Add(h + "mlp.c_fc.bias", [f], w[o + "mlp.up_proj.bias"]);
            Add(h + "mlp.c_proj.weight", [f, c], Transpose(w[o + "mlp.down_proj.weight"], c, f));
            Add(h + "mlp.c_proj.bias", [c], w[o + "mlp.down_proj.bias"]);
            Add(h + "attn.bias", [1, 1, context, context], Enumerable.Range(0, context * context).Select(k => k % context <= k / context ? 1f : 0f).ToArray());
            Add(h + "attn.masked_bias", [], [-1e4f]);
        }
        Add("ln_f.weight", [c], w["model.norm.weight"]);
        Add("ln_f.bias", [c], w["model.norm.bias"]);
        if (prefix != "") tensors.Add(NamedTensor.Of("lm_head.weight", [vocab, c], w["model.embed_tokens.weight"]));
        SafeTensors.Write(dir.File(ShardedCheckpoint.SingleFileName), tensors);
        File.WriteAllText(dir.File(HfConfig.FileName), """
            {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1, "embd_pdrop": 0.1,
             "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 8, "n_embd": 8, "n_head": 2, "n_inner": null, "n_layer": 2,
             "n_positions": 8, "resid_pdrop": 0.1, "summary_type": "cls_index", "vocab_size": 11}
            """);

        using var loaded = HfCheckpoint.Load(dir.Path, backend);
        AssertSameModel(model, loaded, TinyModels.PackedBatch(vocab));
    }

    /// <summary>Saves a model, then rewrites its weights file through edit (name → values, shapes) before loading.</summary>
    private static string LoadError(Action<Dictionary<string, (int[] Shape, float[] Values)>> edit, Func<string, string>? editConfig = null)
    {
        using var dir = new TempDirectory();
        using var backend = new CpuBackend();
        using (var model = new Transformer(backend, TinyModels.Llama(), seed: 9)) HfCheckpoint.Save(model, dir.Path);
        string weights = dir.File(ShardedCheckpoint.SingleFileName), config = dir.File(HfConfig.FileName);
        var tensors = new Dictionary<string, (int[] Shape, float[] Values)>();
        using (var file = SafeTensors.Open(weights))
            foreach (var info in file.Tensors.Values) tensors[info.Name] = (info.Shape, file.ReadFloats(info.Name));
        edit(tensors);
        SafeTensors.Write(weights, tensors.Select(t => NamedTensor.Of(t.Key, t.Value.Shape, t.Value.Values)).ToList());
        if (editConfig is not null) File.WriteAllText(config, editConfig(File.ReadAllText(config)));
        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.Load(dir.Path, backend).Dispose());
        Assert.Contains(dir.Path, e.Message);
        return e.Message;
    }

    [Fact]
    public void MissingTensorsAreListed()
    {
        string message = LoadError(t => { t.Remove("model.layers.1.mlp.up_proj.weight"); t.Remove("lm_head.weight"); });
        Assert.Contains("missing 2 tensor(s)", message);
        Assert.Contains("model.layers.1.mlp.up_proj.weight", message);
        Assert.Contains("lm_head.weight", message);
    }

    [Fact]
    public void AWrongShapeNamesTheTensorTheFileAndBothShapes()
    {
        string message = LoadError(t => t["model.layers.0.self_attn.k_proj.weight"] = ([8, 8], new float[64]));
        Assert.Contains("model.safetensors: tensor 'model.layers.0.self_attn.k_proj.weight' has shape [8, 8], expected [4, 8]", message);
    }

    [Fact]
    public void UnexpectedTensorsAreListed()
    {
        string message = LoadError(t => t["model.layers.0.self_attn.o_proj.bias"] = ([8], new float[8]));
        Assert.Contains("1 unexpected tensor(s)", message);
        Assert.Contains("model.layers.0.self_attn.o_proj.bias", message);
    }

    [Fact]
    public void KnownBuffersAreIgnored()
    {
        using var dir = new TempDirectory();
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Llama() with { TiedEmbeddings = true }, seed: 10);
        HfCheckpoint.Save(model, dir.Path);
        string weights = dir.File(ShardedCheckpoint.SingleFileName);
        var tensors = new List<NamedTensor>();
        using (var file = SafeTensors.Open(weights))
            foreach (var info in file.Tensors.Values) tensors.Add(NamedTensor.Of(info.Name, info.Shape, file.ReadFloats(info.Name)));
        tensors.Add(NamedTensor.Of("model.layers.0.self_attn.rotary_emb.inv_freq", [2], [1f, 0.01f]));
        tensors.Add(NamedTensor.Of("lm_head.weight", [11, 8], new float[88]));
        SafeTensors.Write(weights, tensors);
        using var loaded = HfCheckpoint.Load(dir.Path, backend);
        AssertSameModel(model, loaded, TinyModels.PackedBatch(11));
    }

    [Fact]
    public void AVocabularyMismatchBetweenConfigAndWeightsIsExplained()
    {
        string message = LoadError(_ => { }, config => config.Replace("\"vocab_size\": 11", "\"vocab_size\": 12"));
        Assert.Contains("tensor 'model.embed_tokens.weight' has 11 rows but", message);
        Assert.Contains("config.json says vocab_size is 12", message);
    }

    [Fact]
    public void AWeightOfAnIntegerDTypeIsNamed()
    {
        using var dir = new TempDirectory();
        using var backend = new CpuBackend();
        using (var model = new Transformer(backend, TinyModels.Llama(), seed: 13)) HfCheckpoint.Save(model, dir.Path);
        string weights = dir.File(ShardedCheckpoint.SingleFileName);
        string bytes = System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(weights));
        File.WriteAllBytes(weights, System.Text.Encoding.Latin1.GetBytes(bytes.Replace("\"model.norm.weight\":{\"dtype\":\"F32\"", "\"model.norm.weight\":{\"dtype\":\"I32\"")));
        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.Load(dir.Path, backend).Dispose());
        Assert.Contains(weights + ": tensor 'model.norm.weight' has dtype I32", e.Message);
    }

    [Fact]
    public void AMissingConfigIsNamed()
    {
        using var dir = new TempDirectory();
        using var backend = new CpuBackend();
        var e = Assert.Throws<CheckpointFormatException>(() => HfCheckpoint.Load(dir.Path, backend));
        Assert.Contains(Path.Combine(dir.Path, "config.json") + ": not found", e.Message);
    }
}
