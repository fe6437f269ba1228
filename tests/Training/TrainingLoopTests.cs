using Engine.Backends;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Tests.Support;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Training;

/// <summary>The one training loop: when it evaluates and checkpoints, how it stops (asked to, or on a non-finite loss), and resuming.</summary>
public sealed class TrainingLoopTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static Trainer NewTrainer(Transformer model, int steps = 8) =>
        new(model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Cosine, 1e-2f, 2, steps));

    /// <summary>Micro-batch i of a run's data, the same on every pass.</summary>
    private static IEnumerable<Batch> Data()
    {
        for (int i = 0; ; i++) yield return TinyModels.PackedBatch(11, seed: i);
    }

    private CheckpointSettings Checkpoints(int keep = 10) => new(_temp.Path, keep, new TrainingState(0, 0, Seed: 3));

    private static string[] CheckpointNames(string dir) =>
        Directory.GetDirectories(dir).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void EvaluatesEveryNAndAtTheLastStepAndCheckpointsEveryN()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 3);
        using var trainer = NewTrainer(model, steps: 7);
        int evaluations = 0;
        var loop = new TrainingLoop(trainer, new LoopSettings { Steps = 7, Accumulate = 2, EvalEvery = 3, SaveEvery = 2 }, Data(),
            evaluate: () => ++evaluations, checkpoints: Checkpoints());
        var reports = new List<StepReport>();
        var saved = new List<string>();
        loop.StepFinished += reports.Add;
        loop.CheckpointSaved += saved.Add;

        var outcome = loop.Run();
        Assert.Equal(Enumerable.Range(1, 7), reports.Select(r => r.Step.Step));
        Assert.Equal([3, 6, 7], reports.Where(r => r.Evaluated).Select(r => r.Step.Step));
        Assert.Equal([1.0, 2.0, 3.0], reports.Where(r => r.Evaluated).Select(r => r.EvalLoss));
        Assert.All(reports, r => Assert.Equal(2 * 12, r.Step.Tokens));
        Assert.Equal(["checkpoint-2", "checkpoint-4", "checkpoint-6"], saved.Select(Path.GetFileName));
        Assert.Equal(12, TrainingCheckpoint.ReadState(saved[^1]).MicroBatchesConsumed);
        Assert.Equal((7, 3.0), outcome.LastEval);
        Assert.Equal(7, outcome.StepsRun);
        Assert.False(outcome.Stopped);
    }

    /// <summary>A stop request is honoured after the current step, which is checkpointed; the loop reports it stopped early.</summary>
    [Fact]
    public void StopsAfterTheStepOfTheRequestAndCheckpointsIt()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 3);
        using var trainer = NewTrainer(model);
        using var stop = new CancellationTokenSource();
        var loop = new TrainingLoop(trainer, new LoopSettings { Steps = 8 }, Data(), checkpoints: Checkpoints());
        loop.StepFinished += r =>
        {
            if (r.Step.Step == 3) stop.Cancel();
        };
        var outcome = loop.Run(stop.Token);
        Assert.True(outcome.Stopped);
        Assert.Equal(3, outcome.StepsRun);
        Assert.Equal(3, trainer.StepCount);
        Assert.Equal(["checkpoint-3"], CheckpointNames(_temp.Path));
    }

    /// <summary>A weight gone infinite before step 3: the loop throws with the step named, and the checkpoint of step 2 is the newest, untouched.</summary>
    [Fact]
    public void ANonFiniteLossStopsTheRunNamingTheStepAndLeavesTheLastCheckpoint()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 3);
        using var trainer = NewTrainer(model);
        var checkpointFiles = new Dictionary<string, byte[]>();
        IEnumerable<Batch> PoisonedAtTheThirdStep()
        {
            int i = 0;
            foreach (var batch in Data())
            {
                if (i++ == 2)
                {
                    foreach (string file in Directory.GetFiles(Path.Combine(_temp.Path, "checkpoint-2"))) checkpointFiles[file] = File.ReadAllBytes(file);
                    CpuBackend.F(model.Parameters[0].Value)[3] = float.PositiveInfinity;
                }
                yield return batch;
            }
        }
        var loop = new TrainingLoop(trainer, new LoopSettings { Steps = 8, SaveEvery = 2 }, PoisonedAtTheThirdStep(), checkpoints: Checkpoints());

        var e = Assert.Throws<InvalidOperationException>(() => loop.Run());
        Assert.Contains("step 3", e.Message);
        Assert.Equal(2, trainer.StepCount);
        Assert.Equal(["checkpoint-2"], CheckpointNames(_temp.Path));
        Assert.NotEmpty(checkpointFiles);
        foreach (var (file, bytes) in checkpointFiles) Assert.Equal(bytes, File.ReadAllBytes(file));
    }

    /// <summary>8 steps straight, against a run stopped after 4 (its checkpoint written) and resumed in a fresh model and trainer:
    /// identical losses, bit for bit.</summary>
    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void ResumedRunGivesTheLossesOfAnUninterruptedOne(ModelFamily family)
    {
        var settings = new LoopSettings { Steps = 8, Accumulate = 2 };
        List<double> Losses(TrainingLoop loop, CancellationToken stop = default)
        {
            var losses = new List<double>();
            loop.StepFinished += r => losses.Add(r.Step.Loss);
            loop.Run(stop);
            return losses;
        }

        List<double> straight;
        using (var backend = new CpuBackend())
        using (var model = new Transformer(backend, TinyModels.Get(family), seed: 3))
        using (var trainer = NewTrainer(model))
            straight = Losses(new TrainingLoop(trainer, settings, Data()));

        List<double> resumed;
        using (var backend = new CpuBackend())
        using (var model = new Transformer(backend, TinyModels.Get(family), seed: 3))
        using (var trainer = NewTrainer(model))
        using (var stop = new CancellationTokenSource())
        {
            var loop = new TrainingLoop(trainer, settings, Data(), checkpoints: Checkpoints());
            loop.StepFinished += r =>
            {
                if (r.Step.Step == 4) stop.Cancel();
            };
            resumed = Losses(loop, stop.Token);
        }
        using (var backend = new CpuBackend())
        {
            var from = ResumePoint.Find(_temp.Path, seed: 3);
            Assert.EndsWith("checkpoint-4", from.Checkpoint);
            Assert.Equal(8, from.State.MicroBatchesConsumed);
            using var model = TrainingCheckpoint.LoadModel(from.Checkpoint, backend);
            using var trainer = NewTrainer(model);
            var loop = new TrainingLoop(trainer, settings, Data(), from);
            Assert.Equal(5, loop.FirstStep);
            resumed.AddRange(Losses(loop));
        }
        Assert.Equal(straight, resumed);
    }

    [Fact]
    public void ResumingWithAnotherSeedIsRefused()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 3);
        using var trainer = NewTrainer(model);
        new TrainingLoop(trainer, new LoopSettings { Steps = 1, SaveEvery = 1 }, Data(), checkpoints: Checkpoints()).Run();
        var e = Assert.Throws<ArgumentException>(() => ResumePoint.Find(_temp.Path, seed: 4));
        Assert.Contains("was trained with --seed 3", e.Message);
    }
}
