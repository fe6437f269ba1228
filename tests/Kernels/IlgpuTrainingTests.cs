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
    [InlineData(ModelFamily.Gpt2, false)]
    [InlineData(ModelFamily.Llama, false)]
    [InlineData(ModelFamily.Gpt2, true)]
    [InlineData(ModelFamily.Llama, true)]
    public void FourStepsGiveTheLossesOfTheCpuBackend(ModelFamily family, bool loraWithDropout)
    {
        using var cpu = new CpuBackend();
        using var ilgpu = IlgpuBackend.Create("ilgpu-cpu");
        var lora = loraWithDropout ? new LoraConfig(4, 8f, [LoraConfig.AllLinear], Dropout: 0.2f) : null;
        var expected = Losses(cpu, family, lora);
        var actual = Losses(ilgpu, family, lora);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5 * expected[i], $"step {i + 1}: ilgpu {actual[i]:F7} vs cpu {expected[i]:F7}");
    }
}
