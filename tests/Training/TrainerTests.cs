using Engine.Backends;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Training;

public class TrainerTests
{
    private static Trainer NewTrainer(Transformer model, float lr = 1e-2f, float clip = 1f, int steps = 100)
        => new(model, new OptimizerConfig(ClipNorm: clip), new LearningRateSchedule(ScheduleKind.Cosine, lr, 2, steps));

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void OverfitsAFixedBatch(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Get(family), seed: 1);
        using var trainer = NewTrainer(model, lr: 3e-2f, steps: 60);
        var batch = TinyModels.PackedBatch(model.Config.VocabSize);
        double first = trainer.Step([batch]).Loss, last = first;
        for (int i = 0; i < 59; i++) last = trainer.Step([batch]).Loss;
        Assert.True(last < 0.2 * first, $"loss {first:F4} -> {last:F4}");
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void SameSeedGivesIdenticalLosses(ModelFamily family)
    {
        double[] Run()
        {
            using var backend = new CpuBackend();
            using var model = new Transformer(backend, TinyModels.Get(family), seed: 7);
            using var trainer = NewTrainer(model);
            return Enumerable.Range(0, 5).Select(s => trainer.Step([TinyModels.PackedBatch(11, seed: s)]).Loss).ToArray();
        }
        Assert.Equal(Run(), Run());
    }

    /// <summary>
    /// The loss is Σ over target tokens / target tokens of the whole step: splitting a step into 1, 2 or 4 micro-batches
    /// whose target counts differ gives the same loss and gradients (a mean of per-batch means would not).
    /// </summary>
    [Fact]
    public void LossNormalisationDoesNotDependOnTheMicroBatchSplit()
    {
        var rng = new Random(9);
        var rows = Enumerable.Range(0, 4).Select(r =>
        {
            var ids = Enumerable.Range(0, 6).Select(_ => rng.Next(11)).ToArray();
            var targets = Enumerable.Range(0, 6).Select(i => i < 2 + r ? -1 : rng.Next(11)).ToArray();
            return (ids, targets);
        }).ToArray();
        Batch Join(int from, int count) => Batch.Unpacked(count, 6,
            rows.Skip(from).Take(count).SelectMany(r => r.ids).ToArray(), rows.Skip(from).Take(count).SelectMany(r => r.targets).ToArray());

        (double Loss, float[] Grads) Step(Batch[] micro)
        {
            using var backend = new CpuBackend();
            using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 2);
            using var trainer = NewTrainer(model, clip: 0);
            double loss = trainer.Step(micro).Loss;
            return (loss, model.Parameters.SelectMany(p => CpuBackend.F(p.Grad!).ToArray()).ToArray());
        }

        // All gradients as one vector, so a gradient that is zero by symmetry (GPT-2's k bias) is judged on the model's scale.
        var whole = Step([Join(0, 4)]);
        foreach (var split in new[] { new[] { Join(0, 2), Join(2, 2) }, new[] { Join(0, 1), Join(1, 1), Join(2, 1), Join(3, 1) } })
        {
            var parts = Step(split);
            Assert.Equal(whole.Loss, parts.Loss, 6);
            Engine.Tests.Support.Check.Close(whole.Grads, parts.Grads, 1e-5, $"gradients with {split.Length} micro-batches");
        }
    }

    /// <summary>The step's loss is the mean NLL over unmasked targets only, recomputed here from the model's logits in float64.</summary>
    [Fact]
    public void MaskedTokensContributeNothingToTheLoss()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Llama(), seed: 2);
        var batch = TinyModels.PackedBatch(11);
        using var tape = new Engine.Autograd.Tape(backend, recordGradients: false);
        var logits = CpuBackend.F(model.Logits(tape, batch).Value).ToArray();
        double sum = 0;
        int count = 0;
        for (int r = 0; r < batch.Tokens; r++)
        {
            if (batch.Targets[r] < 0) continue;
            var z = logits.Skip(r * 11).Take(11).Select(v => (double)v).ToArray();
            double max = z.Max();
            sum += max + Math.Log(z.Sum(v => Math.Exp(v - max))) - z[batch.Targets[r]];
            count++;
        }
        Assert.Equal(10, count);

        using var trainer = NewTrainer(model);
        Assert.Equal(sum / count, trainer.Step([batch]).Loss, 5);
    }

    [Fact]
    public void LearningRateWarmsUpThenDecaysToTheFloor()
    {
        var s = new LearningRateSchedule(ScheduleKind.Cosine, 1f, WarmupSteps: 10, TotalSteps: 110, MinRatio: 0.1f);
        Assert.Equal(0.1f, s.At(1), 6);
        Assert.Equal(1f, s.At(10), 6);
        Assert.Equal(0.55f, s.At(60), 5);
        Assert.Equal(0.1f, s.At(110), 6);
        var linear = s with { Kind = ScheduleKind.Linear };
        Assert.Equal(0.55f, linear.At(60), 5);
        Assert.Equal(1f, (s with { Kind = ScheduleKind.Constant }).At(100), 6);
    }

    /// <summary>A non-finite loss stops the step with its number, before AdamW touches any weight.</summary>
    [Fact]
    public void NonFiniteLossStopsBeforeTheUpdateAndNamesTheStep()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 1);
        using var trainer = NewTrainer(model);
        var batch = TinyModels.PackedBatch(11);
        trainer.Step([batch]);
        CpuBackend.F(model.Parameters[0].Value)[3] = float.PositiveInfinity;
        var before = model.Parameters.Select(p => CpuBackend.F(p.Value).ToArray()).ToArray();
        var e = Assert.Throws<InvalidOperationException>(() => trainer.Step([batch]));
        Assert.Contains("step 2", e.Message);
        Assert.Equal(1, trainer.StepCount);
        for (int i = 0; i < before.Length; i++) Assert.Equal(before[i], CpuBackend.F(model.Parameters[i].Value).ToArray());
    }
}
