using System.Text.Json;
using Engine.Autograd;
using Engine.Backends;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Tests.Support;
using Engine.Training;
using Xunit;

namespace Engine.Tests.IO;

/// <summary>PEFT adapter directories: PEFT's key names and shapes, a bit-exact round trip, adapter_config.json as PEFT writes and reads it,
/// and clear refusals of what the engine cannot load.</summary>
public class PeftAdapterTests
{
    static Transformer AdaptedModel(CpuBackend backend, ModelFamily family, LoraConfig lora)
    {
        var model = new Transformer(backend, TinyModels.Get(family), seed: 1);
        model.AddLora(lora, seed: 2);
        int seed = 10;
        foreach (var a in model.Adapters) TestData.Uniform((int)a.B.Value.Length, seed++, 0.3f).CopyTo(CpuBackend.F(a.B.Value));
        return model;
    }

    static float[] Logits(Transformer model)
    {
        using var tape = new Tape(model.Backend, recordGradients: false);
        return CpuBackend.F(model.Logits(tape, TinyModels.PackedBatch(model.Config.VocabSize)).Value).ToArray();
    }

    [Fact]
    public void LlamaAdaptersUsePeftsKeysAndShapes()
    {
        using var backend = new CpuBackend();
        using var model = AdaptedModel(backend, ModelFamily.Llama, new LoraConfig(4, 8f, ["q_proj", "v_proj"]));
        using var dir = new TempDirectory();
        PeftAdapter.Save(model, dir.Path, baseModel: "some/base");

        using var file = SafeTensors.Open(Path.Combine(dir.Path, PeftAdapter.WeightsFile));
        var c = model.Config;
        var expected = new Dictionary<string, int[]>();
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"base_model.model.model.layers.{l}.self_attn.";
            expected[p + "q_proj.lora_A.weight"] = [4, c.Dim];
            expected[p + "q_proj.lora_B.weight"] = [c.Heads * c.HeadDim, 4];
            expected[p + "v_proj.lora_A.weight"] = [4, c.Dim];
            expected[p + "v_proj.lora_B.weight"] = [c.KvHeads * c.HeadDim, 4];
        }
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), file.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, shape) in expected) Assert.Equal(shape, file.Tensors[name].Shape);
        Assert.Equal("pt", file.Metadata["format"]);
    }

    [Fact]
    public void Gpt2CAttnIsOneModuleWithQKVRowsInB()
    {
        using var backend = new CpuBackend();
        using var model = AdaptedModel(backend, ModelFamily.Gpt2, new LoraConfig(2, 4f, [LoraConfig.AllLinear]));
        using var dir = new TempDirectory();
        PeftAdapter.Save(model, dir.Path, baseModel: null);
        using var file = SafeTensors.Open(Path.Combine(dir.Path, PeftAdapter.WeightsFile));
        int c = model.Config.Dim, f = model.Config.FfnDim;
        Assert.Equal([3 * c, 2], file.Tensors["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"].Shape);
        Assert.Equal([2, c], file.Tensors["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"].Shape);
        Assert.Equal([2, f], file.Tensors["base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight"].Shape);
        Assert.Equal([c, 2], file.Tensors["base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight"].Shape);
        Assert.Equal([f, 2], file.Tensors["base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight"].Shape);
        Assert.Equal(2 * 4 * 2, file.Tensors.Count);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, PeftAdapter.ConfigFile)));
        Assert.True(config.RootElement.GetProperty("fan_in_fan_out").GetBoolean());
    }

    /// <summary>
    /// Phi-3's adapters are PEFT's on its fused Linear layers: qkv_proj's B has the rows of q, k, v and gate_up_proj's those of gate, up, in
    /// the order of the checkpoint's fused weights. Checked as PEFT applies them: the checkpoint of the merged model holds W + scale·B·A for the
    /// fused W of the unmerged model's checkpoint and the adapter file's A and B.
    /// </summary>
    [Fact]
    public void Phi3AdaptersAreOnTheFusedModulesWithTheirRowsInOrder()
    {
        using var backend = new CpuBackend();
        using var model = AdaptedModel(backend, ModelFamily.Phi3, new LoraConfig(2, 4f, ["qkv_proj", "gate_up_proj"]));
        using var adapter = new TempDirectory();
        using var before = new TempDirectory();
        using var merged = new TempDirectory();
        PeftAdapter.Save(model, adapter.Path, baseModel: null);
        HfCheckpoint.Save(model, before.Path);
        float scale = model.Adapters[0].Scale;
        model.MergeLora();
        HfCheckpoint.Save(model, merged.Path);

        var c = model.Config;
        using var file = SafeTensors.Open(Path.Combine(adapter.Path, PeftAdapter.WeightsFile));
        Assert.Equal(2 * 2 * 2, file.Tensors.Count);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapter.Path, PeftAdapter.ConfigFile)));
        Assert.False(config.RootElement.GetProperty("fan_in_fan_out").GetBoolean());
        using var baseWeights = SafeTensors.Open(Path.Combine(before.Path, ShardedCheckpoint.SingleFileName));
        using var mergedWeights = SafeTensors.Open(Path.Combine(merged.Path, ShardedCheckpoint.SingleFileName));
        foreach (var (module, rows) in new[] { ("self_attn.qkv_proj", (c.Heads + 2 * c.KvHeads) * c.HeadDim), ("mlp.gate_up_proj", 2 * c.FfnDim) })
            for (int l = 0; l < c.Layers; l++)
            {
                string name = $"model.layers.{l}.{module}";
                float[] a = file.ReadFloats($"base_model.model.{name}.lora_A.weight"), b = file.ReadFloats($"base_model.model.{name}.lora_B.weight");
                Assert.Equal([rows, 2], file.Tensors[$"base_model.model.{name}.lora_B.weight"].Shape);
                float[] w = baseWeights.ReadFloats(name + ".weight");
                var expected = new double[rows * c.Dim];
                for (int o = 0; o < rows; o++)
                    for (int i = 0; i < c.Dim; i++)
                        expected[o * c.Dim + i] = w[o * c.Dim + i] + scale * (b[o * 2] * (double)a[i] + b[o * 2 + 1] * (double)a[c.Dim + i]);
                Check.Close(expected, mergedWeights.ReadFloats(name + ".weight"), 1e-6, name);
            }
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    [InlineData(ModelFamily.Mistral)]
    [InlineData(ModelFamily.Qwen3)]
    [InlineData(ModelFamily.Gemma3)]
    [InlineData(ModelFamily.Phi3)]
    public void AnAdapterRoundTripsBitExactWithItsConfig(ModelFamily family)
    {
        using var backend = new CpuBackend();
        var lora = new LoraConfig(3, 6f, [LoraConfig.AllLinear], Dropout: 0.05f, RsLora: true);
        using var model = AdaptedModel(backend, family, lora);
        using var dir = new TempDirectory();
        PeftAdapter.Save(model, dir.Path, baseModel: null);

        using var loaded = new Transformer(backend, TinyModels.Get(family), seed: 1);
        PeftAdapter.Load(loaded, dir.Path);
        // all-linear is written as the module names it matched, as PEFT writes it (PEFT reads all-linear only as a bare string).
        string[] matched = family switch
        {
            ModelFamily.Gpt2 => ["c_attn", "c_proj", "c_fc"],
            ModelFamily.Phi3 => ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
            _ => ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        };
        Assert.Equal(matched, loaded.Lora!.Targets);
        Assert.Equal(lora with { Targets = loaded.Lora.Targets }, loaded.Lora);
        Assert.Equal(model.Adapters.Select(a => a.Module), loaded.Adapters.Select(a => a.Module));
        for (int i = 0; i < model.Adapters.Count; i++)
        {
            IoFiles.AssertBitEqual(CpuBackend.F(model.Adapters[i].A.Value).ToArray(), CpuBackend.F(loaded.Adapters[i].A.Value).ToArray(), "A");
            IoFiles.AssertBitEqual(CpuBackend.F(model.Adapters[i].B.Value).ToArray(), CpuBackend.F(loaded.Adapters[i].B.Value).ToArray(), "B");
        }
        IoFiles.AssertBitEqual(Logits(model), Logits(loaded), "logits");
        Assert.All(loaded.Parameters, p => Assert.False(p.RequiresGrad));
    }

    [Fact]
    public void TheConfigHasPeftsFieldsAndTypes()
    {
        string json = PeftAdapter.ConfigJson(new LoraConfig(8, 16f, ["q_proj", "k_proj"], 0.1f), ModelFamily.Llama, "base/dir");
        var root = JsonDocument.Parse(json).RootElement;
        Assert.Equal("LORA", root.GetProperty("peft_type").GetString());
        Assert.Equal("CAUSAL_LM", root.GetProperty("task_type").GetString());
        Assert.Equal("base/dir", root.GetProperty("base_model_name_or_path").GetString());
        Assert.Equal(8, root.GetProperty("r").GetInt32());
        Assert.Equal("16.0", root.GetProperty("lora_alpha").GetRawText());
        Assert.Equal(0.1, root.GetProperty("lora_dropout").GetDouble());
        Assert.Equal(["q_proj", "k_proj"], root.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
        Assert.False(root.GetProperty("use_rslora").GetBoolean());
        Assert.False(root.GetProperty("fan_in_fan_out").GetBoolean());
        Assert.Equal("none", root.GetProperty("bias").GetString());
    }

    /// <summary>adapter_config.json as PEFT 0.13 writes it (fields the engine does not use included).</summary>
    [Fact]
    public void ReadsAConfigAsPeftWritesIt()
    {
        using var dir = new TempDirectory();
        dir.File(PeftAdapter.ConfigFile, """
            {
              "alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "Qwen/Qwen2-0.5B", "bias": "none",
              "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true, "layer_replication": null,
              "layers_pattern": null, "layers_to_transform": null, "loftq_config": {}, "lora_alpha": 32, "lora_dropout": 0.05,
              "megatron_config": null, "megatron_core": "megatron.core", "modules_to_save": null, "peft_type": "LORA", "r": 16,
              "rank_pattern": {}, "revision": null, "target_modules": ["v_proj", "q_proj", "o_proj"], "task_type": "CAUSAL_LM",
              "use_dora": false, "use_rslora": false
            }
            """);
        var config = PeftAdapter.ReadConfig(dir.Path);
        Assert.Equal(16, config.Rank);
        Assert.Equal(32f, config.Alpha);
        Assert.Equal(0.05f, config.Dropout);
        Assert.Equal(["v_proj", "q_proj", "o_proj"], config.Targets);
        Assert.Equal(2f, config.Scale);
        Assert.Null(PeftAdapter.BaseModelDirectory(dir.Path));
    }

    [Theory]
    [InlineData("\"peft_type\": \"PREFIX_TUNING\"", "only LORA")]
    [InlineData("\"use_dora\": true", "DoRA")]
    [InlineData("\"rank_pattern\": {\"q_proj\": 4}", "rank_pattern")]
    [InlineData("\"bias\": \"all\"", "bias 'all'")]
    [InlineData("\"modules_to_save\": [\"lm_head\"]", "modules_to_save")]
    [InlineData("\"target_modules\": \".*attn.*\"", "regular expression")]
    [InlineData("\"r\": 0", "rank 0")]
    [InlineData("\"init_lora_weights\": \"pissa\"", "init_lora_weights 'pissa'")]
    [InlineData("\"target_modules\": [\"all-linear\", \"q_proj\"]", "stands alone")]
    [InlineData("\"r\": \"8\"", "'r' is \"8\"")]
    public void UnsupportedConfigsAreRefusedByName(string field, string message)
    {
        using var dir = new TempDirectory();
        var fields = new Dictionary<string, string>
        {
            ["peft_type"] = "\"LORA\"", ["r"] = "8", ["lora_alpha"] = "16", ["target_modules"] = "[\"q_proj\"]", ["use_dora"] = "false",
            ["rank_pattern"] = "{}", ["bias"] = "\"none\"", ["modules_to_save"] = "null",
        };
        var (key, value) = (field[1..field.IndexOf('"', 1)], field[(field.IndexOf(':') + 1)..].Trim());
        fields[key] = value;
        dir.File(PeftAdapter.ConfigFile, "{" + string.Join(", ", fields.Select(kv => $"\"{kv.Key}\": {kv.Value}")) + "}");
        var e = Assert.Throws<CheckpointFormatException>(() => PeftAdapter.ReadConfig(dir.Path));
        Assert.Contains(PeftAdapter.ConfigFile, e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void MissingExtraAndMisshapenTensorsAreNamed()
    {
        using var backend = new CpuBackend();
        using var model = AdaptedModel(backend, ModelFamily.Llama, new LoraConfig(2, 4f, ["q_proj"]));
        using var dir = new TempDirectory();
        PeftAdapter.Save(model, dir.Path, baseModel: null);
        string weights = Path.Combine(dir.Path, PeftAdapter.WeightsFile);
        string q0 = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
        var original = new List<NamedTensor>();
        using (var file = SafeTensors.Open(weights))
            foreach (var (name, info) in file.Tensors) original.Add(NamedTensor.Of(name, info.Shape, file.ReadFloats(name)));

        void Expect(IReadOnlyList<NamedTensor> tensors, string message)
        {
            SafeTensors.Write(weights, tensors);
            using var fresh = new Transformer(backend, TinyModels.Llama(), seed: 1);
            var e = Assert.Throws<CheckpointFormatException>(() => PeftAdapter.Load(fresh, dir.Path));
            Assert.Contains(message, e.Message);
            Assert.Contains(PeftAdapter.WeightsFile, e.Message);
        }
        Expect(original.Where(t => t.Name != q0).ToList(), $"no tensor {q0}");
        Expect([.. original, NamedTensor.Of("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", [2, 8], new float[16])], "k_proj.lora_A");
        Expect(original.Select(t => t.Name == q0 ? NamedTensor.Of(q0, [8, 2], new float[16]) : t).ToList(), $"{q0} is [8, 2], the model needs [2, 8]");

        // Keys that carry PEFT's adapter name, as a live PeftModel's state dict has them, load too.
        SafeTensors.Write(weights, original.Select(t => NamedTensor.Of(t.Name.Replace(".weight", ".default.weight"), t.Shape, Values(t))).ToList());
        using var named = new Transformer(backend, TinyModels.Llama(), seed: 1);
        PeftAdapter.Load(named, dir.Path);
        IoFiles.AssertBitEqual(Logits(model), Logits(named), "logits with adapter-named keys");
    }

    static float[] Values(NamedTensor t)
    {
        var values = new float[t.Shape.Aggregate(1, (a, b) => a * b)];
        t.Fill(values);
        return values;
    }
}
