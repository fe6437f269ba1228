using Engine.Backends;
using Engine.Backends.Cpu;
using Engine.Backends.Ilgpu;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>Whole training steps of a tiny model on the ILGPU backend (CPU accelerator) against the CPU backend.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class IlgpuTrainingTests
{
    private static double[] Losses(IBackend backend, ModelFamily family, LoraConfig? lora = null)
    {
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 5);
        if (lora is not null) model.AddLora(lora, seed: 6);
        using var trainer = new Trainer(model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Cosine, 1e-2f, 1, 4));
        return Enumerable.Range(0, 4).Select(s => trainer.Step([TinyModels.PackedBatch(model.Config.VocabSize, seed: s)]).Loss).ToArray();
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2, -1f)]
    [InlineData(ModelFamily.Llama, -1f)]
    [InlineData(ModelFamily.Gpt2, 0f)]
    [InlineData(ModelFamily.Llama, 0.2f)]
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
}
