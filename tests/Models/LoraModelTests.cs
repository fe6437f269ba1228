using Engine.Autograd;
using Engine.Backends;
using Engine.Models;
using Engine.Tests.Support;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Models;

/// <summary>LoRA adapters on the model's linear layers: targets as PEFT matches them, outputs unchanged at B = 0, gradients of A and B
/// (dropout included) against finite differences, merged equals unmerged, the base frozen bit-exact through training, and the memory saved.</summary>
public class LoraModelTests
{
    static LoraConfig AllLinear(int rank = 2, float dropout = 0) => new(rank, 4f, [LoraConfig.AllLinear], dropout);

    static float[] Logits(Transformer model, Batch batch)
    {
        using var tape = new Tape(model.Backend, recordGradients: false);
        return CpuBackend.F(model.Logits(tape, batch).Value).ToArray();
    }

    /// <summary>Gives every B random values, so the adapters change the outputs.</summary>
    static void RandomizeB(Transformer model, int seed)
    {
        foreach (var adapter in model.Adapters) TestData.Uniform((int)adapter.B.Value.Length, seed++, 0.5f).CopyTo(CpuBackend.F(adapter.B.Value));
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2, "c_attn", new[] { "transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn" })]
    [InlineData(ModelFamily.Gpt2, "c_proj", new[] { "transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj", "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_proj" })]
    [InlineData(ModelFamily.Llama, "q_proj,v_proj", new[] { "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj" })]
    [InlineData(ModelFamily.Llama, "layers.1.mlp.down_proj", new[] { "model.layers.1.mlp.down_proj" })]
    [InlineData(ModelFamily.Phi3, "qkv_proj,down_proj", new[] { "model.layers.0.self_attn.qkv_proj", "model.layers.0.mlp.down_proj", "model.layers.1.self_attn.qkv_proj", "model.layers.1.mlp.down_proj" })]
    [InlineData(ModelFamily.Phi3, "gate_up_proj,o_proj", new[] { "model.layers.0.self_attn.o_proj", "model.layers.0.mlp.gate_up_proj", "model.layers.1.self_attn.o_proj", "model.layers.1.mlp.gate_up_proj" })]
    [InlineData(ModelFamily.Mistral, "q_proj,k_proj,gate_proj", new[] { "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.mlp.gate_proj",
        "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.k_proj", "model.layers.1.mlp.gate_proj" })]
    public void TargetsMatchModulesAsPeftDoes(ModelFamily family, string targets, string[] expected)
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 1);
        model.AddLora(new LoraConfig(2, 4f, targets.Split(',')), seed: 1);
        Assert.Equal(expected, model.Adapters.Select(a => a.Module));
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2, 7 * 0 + 4 * 2)]
    [InlineData(ModelFamily.Llama, 7 * 2)]
    [InlineData(ModelFamily.Mistral, 7 * 2)]
    [InlineData(ModelFamily.Qwen3, 7 * 2)]
    [InlineData(ModelFamily.Gemma3, 7 * 2)]
    [InlineData(ModelFamily.Phi3, 4 * 2)]
    public void AllLinearCoversEveryLinearButTheHeadWithAShapedAAndB(ModelFamily family, int modules)
    {
        using var backend = new CpuBackend();
        var config = TinyModels.Get(family);
        using var model = new Transformer(backend, config, seed: 1);
        model.AddLora(AllLinear(rank: 3), seed: 1);
        Assert.Equal(modules, model.Adapters.Count);
        var qkv = model.Adapters[0];
        int qkvRows = family switch
        {
            ModelFamily.Gpt2 => 3 * config.Dim,
            ModelFamily.Phi3 => (config.Heads + 2 * config.KvHeads) * config.HeadDim,
            _ => config.Heads * config.HeadDim,
        };
        Assert.Equal([3, config.Dim], qkv.A.Value.Shape);
        Assert.Equal([qkvRows, 3], qkv.B.Value.Shape);
        Assert.All(CpuBackend.F(qkv.B.Value).ToArray(), b => Assert.Equal(0f, b));
        float bound = 1 / MathF.Sqrt(config.Dim);
        Assert.All(CpuBackend.F(qkv.A.Value).ToArray(), a => Assert.InRange(a, -bound, bound));
        Assert.All(model.Parameters, p => Assert.False(p.RequiresGrad));
        Assert.Equal(model.Adapters.Count * 2, model.TrainableParameters.Count());
    }

    [Fact]
    public void UnknownTargetsAreAnErrorThatListsTheModules()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Llama(), seed: 1);
        var e = Assert.Throws<ArgumentException>(() => model.AddLora(new LoraConfig(2, 4f, ["c_attn"]), seed: 1));
        Assert.Contains("q_proj", e.Message);
        Assert.Empty(model.Adapters);
        Assert.Throws<ArgumentException>(() => model.AddLora(new LoraConfig(0, 4f, ["q_proj"]), seed: 1));
        Assert.Throws<ArgumentException>(() => model.AddLora(new LoraConfig(2, 4f, [LoraConfig.AllLinear, "q_proj"]), seed: 1));
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void WithBZeroTheOutputsAreTheBaseModelsExactly(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 2);
        var batch = TinyModels.PackedBatch(model.Config.VocabSize);
        var before = Logits(model, batch);
        model.AddLora(AllLinear(), seed: 3);
        Assert.Equal(before, Logits(model, batch));
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2, 0f)]
    [InlineData(ModelFamily.Llama, 0f)]
    [InlineData(ModelFamily.Gpt2, 0.3f)]
    [InlineData(ModelFamily.Llama, 0.3f)]
    public void AdapterGradientsMatchFiniteDifferencesAndTheBaseGetsNone(ModelFamily family, float dropout)
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 3);
        TinyModels.ScaleWeights(model, 10f);
        model.AddLora(AllLinear(dropout: dropout), seed: 4);
        RandomizeB(model, 5);
        var adapters = model.Adapters.SelectMany(a => a.Parameters).ToList();
        var failures = ModelGradientCheck.Failures(model, TinyModels.PackedBatch(model.Config.VocabSize), adapters, dropoutSeed: 77);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.All(model.Parameters, p => Assert.Null(p.Grad));
    }

    [Fact]
    public void DropoutChangesTrainingForwardsOnlyAndDependsOnTheSeed()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Llama(), seed: 3);
        model.AddLora(AllLinear(dropout: 0.5f), seed: 4);
        RandomizeB(model, 5);
        var batch = TinyModels.PackedBatch(model.Config.VocabSize);
        double Loss(uint? seed)
        {
            using var tape = new Tape(backend, recordGradients: false);
            return model.Forward(tape, batch, seed);
        }
        Assert.Equal(Loss(1), Loss(1));
        Assert.NotEqual(Loss(1), Loss(2));
        Assert.NotEqual(Loss(null), Loss(1));

        using var plain = new Transformer(backend, TinyModels.Llama(), seed: 3);
        plain.AddLora(AllLinear(dropout: 0f), seed: 4);
        RandomizeB(plain, 5);
        using var tape = new Tape(backend, recordGradients: false);
        Assert.Equal(plain.Forward(tape, batch, 1), Loss(null));
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void MergedAndUnmergedOutputsAgree(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 2);
        model.AddLora(AllLinear(rank: 3) with { RsLora = true }, seed: 3);
        RandomizeB(model, 7);
        var batch = TinyModels.PackedBatch(model.Config.VocabSize);
        var unmerged = Logits(model, batch);
        model.MergeLora();
        Assert.Empty(model.Adapters);
        Assert.All(model.Parameters, p => Assert.True(p.RequiresGrad));
        // Two float32 evaluation orders of the same sums: x·Wᵀ + s·(x·Aᵀ)·Bᵀ against x·(W + s·B·A)ᵀ.
        Check.Close(TestData.ToDouble(unmerged), Logits(model, batch), 1e-5, "merged logits");
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2, 0f)]
    [InlineData(ModelFamily.Llama, 0.1f)]
    public void TrainingMovesOnlyTheAdaptersAndLowersTheLoss(ModelFamily family, float dropout)
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 2);
        TinyModels.ScaleWeights(model, 10f); // a head of N(0, 0.02²) keeps any hidden state's logits near uniform
        model.AddLora(AllLinear(rank: 4, dropout: dropout), seed: 3);
        var baseWeights = model.Parameters.Select(p => CpuBackend.F(p.Value).ToArray()).ToList();
        var batch = TinyModels.PackedBatch(model.Config.VocabSize);
        using var trainer = new Trainer(model, new OptimizerConfig(WeightDecay: 0), new LearningRateSchedule(ScheduleKind.Constant, 1e-2f, 0, 30));
        double first = trainer.Step([batch]).Loss, last = first;
        for (int i = 0; i < 29; i++) last = trainer.Step([batch]).Loss;
        Assert.True(last < first * 0.9, $"loss {first} → {last}");
        for (int i = 0; i < baseWeights.Count; i++) Assert.Equal(baseWeights[i], CpuBackend.F(model.Parameters[i].Value).ToArray());
        Assert.All(model.Parameters, p => Assert.Null(p.Grad));
        Assert.Equal(model.Adapters.Count * 2, trainer.OptimizerState.Count());
    }

    /// <summary>The engine's own accounting, for the main job's model: LoRA r = 8 on every linear keeps gradients and AdamW moments for
    /// under 10 % of the elements full fine-tuning keeps them for.</summary>
    [Fact]
    public void LoraNeedsASmallFractionOfTheGradientAndOptimizerMemory()
    {
        using var backend = new CpuBackend();
        var config = Presets.TinyLlama(vocabSize: 260);
        var schedule = new LearningRateSchedule(ScheduleKind.Constant, 1e-3f, 0, 1);

        using var full = new Transformer(backend, config, seed: 1);
        using var fullTrainer = new Trainer(full, new OptimizerConfig(), schedule);
        var fullReport = MemoryReport.Of(full, fullTrainer);

        using var lora = new Transformer(backend, config, seed: 1);
        lora.AddLora(new LoraConfig(8, 16f, [LoraConfig.AllLinear]), seed: 1);
        using var loraTrainer = new Trainer(lora, new OptimizerConfig(), schedule);
        var loraReport = MemoryReport.Of(lora, loraTrainer);

        long adapterElements = lora.Adapters.Sum(a => a.A.Value.Length + a.B.Value.Length);
        Assert.Equal(adapterElements, loraReport.TrainableParameters);
        Assert.Equal(4 * adapterElements, loraReport.GradientBytes);
        Assert.Equal(8 * adapterElements, loraReport.OptimizerBytes);
        Assert.Equal(fullReport.WeightBytes + 4 * adapterElements, loraReport.WeightBytes);
        Assert.True(loraReport.GradientBytes + loraReport.OptimizerBytes < 0.1 * (fullReport.GradientBytes + fullReport.OptimizerBytes),
            $"LoRA {loraReport} against full {fullReport}");
    }
}
