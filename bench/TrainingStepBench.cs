using BenchmarkDotNet.Attributes;
using Engine.Backends;
using Engine.Models;
using Engine.Training;

namespace Engine.Bench;

/// <summary>One full training step (forward, fused LM head + loss, backward, clipping, AdamW) of the baseline presets.</summary>
[MemoryDiagnoser]
[GcForce(false)] // a training loop never collects between steps; a forced full GC before each measured step left it cold (+9 ms on preset i)
public class TrainingStepBench
{
    private CpuBackend _backend = null!;
    private Transformer _model = null!;
    private Trainer _trainer = null!;
    private Batch _batch = null!;

    [Params("i", "ii", "iii")]
    public string Preset { get; set; } = "i";

    [GlobalSetup]
    public void Setup()
    {
        var config = Presets.Bench(Preset);
        _backend = new CpuBackend();
        _model = new Transformer(_backend, config, seed: 1);
        _trainer = new Trainer(_model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Constant, 1e-4f, 0, 1));
        _batch = Batch.RandomTokens(Presets.BenchBatch(Preset), config.ContextLength, config.VocabSize, seed: 1);
    }

    [Benchmark]
    public double Step() => _trainer.Step([_batch]).Loss;

    [GlobalCleanup]
    public void Cleanup()
    {
        _trainer.Dispose();
        _model.Dispose();
        _backend.Dispose();
    }
}
