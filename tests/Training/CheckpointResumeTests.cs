using Engine.Backends.Cpu;
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

    /// <summary>8 steps straight, against 4 steps + checkpoint + a fresh process-like restart + 4 steps: identical losses, bit for bit.</summary>
    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void ResumedRunGivesTheLossesOfAnUninterruptedOne(ModelFamily family)
    {
        double[] straight;
        using (var backend = new CpuBackend())
        using (var model = new Transformer(backend, TinyModels.Get(family), seed: 3))
        using (var trainer = NewTrainer(model))
            straight = Enumerable.Range(0, 8).Select(i => trainer.Step([BatchAt(i)]).Loss).ToArray();

        var resumed = new List<double>();
        using (var backend = new CpuBackend())
        using (var model = new Transformer(backend, TinyModels.Get(family), seed: 3))
        using (var trainer = NewTrainer(model))
        {
            for (int i = 0; i < 4; i++) resumed.Add(trainer.Step([BatchAt(i)]).Loss);
            TrainingCheckpoint.Save(_dir, model, trainer, new TrainingState(trainer.StepCount, MicroBatchesConsumed: 4, Seed: 3));
        }
        using (var backend = new CpuBackend())
        {
            string checkpoint = TrainingCheckpoint.Find(_dir);
            Assert.EndsWith("checkpoint-4", checkpoint);
            using var model = TrainingCheckpoint.LoadModel(checkpoint, backend);
            using var trainer = NewTrainer(model);
            var state = TrainingCheckpoint.Restore(checkpoint, trainer, backend);
            for (long i = state.MicroBatchesConsumed; i < 8; i++) resumed.Add(trainer.Step([BatchAt(i)]).Loss);
        }
        Assert.Equal(straight, resumed);
    }

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
