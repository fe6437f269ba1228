using Engine.Backends;
using Engine.Models;
using Engine.Tensors;
using Engine.Tests.Models;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>Whole training steps of a tiny model on the ILGPU backend (CPU accelerator) against the CPU backend.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class IlgpuTrainingTests
{
    private static double[] Losses(IBackend backend, ModelFamily family, LoraConfig? lora = null, int steps = 4)
    {
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 5);
        if (lora is not null) model.AddLora(lora, seed: 6);
        using var trainer = new Trainer(model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Cosine, 1e-2f, 1, 4));
        return Enumerable.Range(0, steps).Select(s => trainer.Step([TinyModels.PackedBatch(model.Config.VocabSize, seed: s)]).Loss).ToArray();
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2, -1f)]
    [InlineData(ModelFamily.Llama, -1f)]
    [InlineData(ModelFamily.Gpt2, 0f)]
    [InlineData(ModelFamily.Llama, 0.2f)]
    [InlineData(ModelFamily.Mistral, -1f)]
    [InlineData(ModelFamily.Qwen3, -1f)]
    [InlineData(ModelFamily.Gemma3, -1f)]
    [InlineData(ModelFamily.Phi3, 0f)]
    public void FourStepsGiveTheLossesOfTheCpuBackend(ModelFamily family, float loraDropout)
    {
        using var cpu = new CpuBackend();
        using var ilgpu = IlgpuBackend.Create("ilgpu-cpu");
        // loraDropout −1: full fine-tuning; 0: LoRA through the fused LoRA kernels; > 0: LoRA with dropout (dropout kernel + plain matmuls).
        var lora = loraDropout >= 0 ? new LoraConfig(4, 8f, [LoraConfig.AllLinear], Dropout: loraDropout) : null;
        var expected = Losses(cpu, family, lora);
        var actual = Losses(ilgpu, family, lora);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5 * expected[i], $"step {i + 1}: ilgpu {actual[i]:F7} vs cpu {expected[i]:F7}");
    }

    /// <summary>
    /// A training step waits for the device once (the budget is 2): with two micro-batches per step and clipping on, the uploads are queued,
    /// the loss and the squared gradient norm are summed into device scalars that the clipping factor and AdamW read where they are, and
    /// the host reads both at the end. Counted by the backend's hook around every wait (<see cref="IlgpuBackend.Synchronizations"/>); the
    /// first step is left out (the launchers' scratch buffers grow then, waiting once each). The same at bf16, whose rounding of the
    /// weight copies and of the operands is queued like every other launch.
    /// </summary>
    [Theory]
    [InlineData(Precision.Fp32)]
    [InlineData(Precision.Bf16)]
    public void AStepWaitsForTheDeviceOnce(Precision precision)
    {
        using var ilgpu = IlgpuBackend.Create("ilgpu-cpu", precision);
        using var model = new Transformer(ilgpu, TinyModels.Gpt2(), seed: 5);
        using var trainer = new Trainer(model, new OptimizerConfig(ClipNorm: 0.1f), new LearningRateSchedule(ScheduleKind.Cosine, 1e-2f, 1, 4));
        Batch[] Micro(int step) => [TinyModels.PackedBatch(model.Config.VocabSize, seed: 2 * step), TinyModels.PackedBatch(model.Config.VocabSize, seed: 2 * step + 1)];
        trainer.Step(Micro(0));
        for (int step = 1; step <= 3; step++)
        {
            long before = ilgpu.Synchronizations;
            var result = trainer.Step(Micro(step));
            long waits = ilgpu.Synchronizations - before;
            Assert.True(result.GradNorm > 0.1, $"the clip must bite: norm {result.GradNorm}");
            Assert.True(waits == 1, $"step {step + 1} waited for the device {waits} times (budget: 2)");
        }
    }

    /// <summary>A non-finite loss on the device: the step throws naming it, and AdamW, which reads the NaN clip scale where it is, has
    /// changed no weight (as on the CPU backend: TrainerTests).</summary>
    [Fact]
    public void ANonFiniteLossStopsTheStepBeforeAnyUpdate()
    {
        using var ilgpu = IlgpuBackend.Create("ilgpu-cpu");
        using var model = new Transformer(ilgpu, TinyModels.Gpt2(), seed: 1);
        using var trainer = new Trainer(model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Cosine, 1e-2f, 1, 4));
        var batch = TinyModels.PackedBatch(model.Config.VocabSize);
        trainer.Step([batch]);
        float[] Read(Tensor t)
        {
            var values = new float[t.Length];
            ilgpu.Download(t, values);
            return values;
        }
        var first = Read(model.Parameters[0].Value);
        first[3] = float.PositiveInfinity;
        ilgpu.Upload(model.Parameters[0].Value, first);
        var before = model.Parameters.Select(p => Read(p.Value)).ToArray();

        var e = Assert.Throws<InvalidOperationException>(() => trainer.Step([batch]));

        Assert.Contains("step 2", e.Message);
        Assert.Equal(1, trainer.StepCount);
        for (int i = 0; i < before.Length; i++) Assert.Equal(before[i], Read(model.Parameters[i].Value));
    }

    /// <summary>Op outputs take pooled device memory without clearing it; gradients must start at zero: with every pool bucket a tiny
    /// model can use left full of NaN, two training steps of the Llama family with LoRA give the losses of a fresh backend (an op that
    /// left part of its output unwritten, or a gradient taken uncleared, would show as NaN; each kernel's own test poisons its outputs too).</summary>
    [Fact]
    public void DirtyPooledMemoryChangesNothing()
    {
        var lora = new LoraConfig(4, 8f, [LoraConfig.AllLinear]);
        using var fresh = IlgpuBackend.Create("ilgpu-cpu");
        var expected = Losses(fresh, ModelFamily.Llama, lora, steps: 2);

        using var dirty = IlgpuBackend.Create("ilgpu-cpu");
        var capacities = Enumerable.Range(1, 1 << 12).Select(n => PoolBuckets.Capacity(n)).Distinct();
        var garbage = capacities.SelectMany(c => Enumerable.Range(0, 6).Select(_ => dirty.AllocateUninitialized(DType.F32, (int)c))).ToList();
        foreach (var t in garbage)
        {
            dirty.Upload(t, Enumerable.Repeat(float.NaN, (int)t.Length).ToArray());
            t.Dispose();
        }
        Assert.Equal(expected, Losses(dirty, ModelFamily.Llama, lora, steps: 2));
    }
}
