using Engine.Backends;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Training;

public class MemoryReportTests
{
    /// <summary>Full fine-tuning: every parameter has a gradient and two AdamW moments, 4 bytes an element.</summary>
    [Fact]
    public void CountsWeightsGradientsAndMoments()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Llama(), seed: 1);
        using var trainer = new Trainer(model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Constant, 1e-3f, 0, 1));
        var report = MemoryReport.Of(model, trainer);
        Assert.Equal(model.ParameterCount, report.Parameters);
        Assert.Equal(model.ParameterCount, report.TrainableParameters);
        Assert.Equal(4 * model.ParameterCount, report.WeightBytes);
        Assert.Equal(4 * model.ParameterCount, report.GradientBytes);
        Assert.Equal(8 * model.ParameterCount, report.OptimizerBytes);
        Assert.True(report.PeakProcessBytes > report.WeightBytes);
    }
}
