using Engine.Backends;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Training;

public class CheckpointResumeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "engine-resume-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static Trainer NewTrainer(Transformer model) =>
        new(model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Cosine, 1e-2f, 2, 8));

    private static Batch BatchAt(long index) => TinyModels.PackedBatch(11, seed: (int)index);

    [Fact]
    public void FindNamesWhatItCannotFind()
    {
        Directory.CreateDirectory(_dir);
        var e = Assert.Throws<IOException>(() => TrainingCheckpoint.Find(_dir));
        Assert.Contains(_dir, e.Message);
    }

    [Fact]
    public void SavingKeepsOnlyTheNewestCheckpoints()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 3);
        using var trainer = NewTrainer(model);
        for (int step = 1; step <= 3; step++)
        {
            trainer.Step([BatchAt(step)]);
            TrainingCheckpoint.Save(_dir, model, trainer, new TrainingState(trainer.StepCount, step, 3), keep: 2);
        }
        Assert.Equal(new[] { "checkpoint-2", "checkpoint-3" }, Directory.GetDirectories(_dir).Select(d => Path.GetFileName(d)).Order().ToArray());
    }
}
