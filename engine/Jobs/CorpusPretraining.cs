using Engine.Data;
using Engine.Models;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Jobs;

/// <summary>Next-byte pretraining on the built-in corpus: its length and rows, and the schedule (cosine after a linear warmup).</summary>
public sealed record PretrainSettings
{
    public required int Steps { get; init; }
    public int Rows { get; init; } = 8;
    public int Accumulate { get; init; } = 1;

    /// <summary>Tokens per row (a random window of the corpus).</summary>
    public int WindowLength { get; init; } = CorpusPretraining.WindowLength;

    public float LearningRate { get; init; } = CorpusPretraining.LearningRate;
    public int WarmupSteps { get; init; } = CorpusPretraining.WarmupSteps;

    /// <summary>Seed of the windows' order.</summary>
    public int Seed { get; init; } = 1;
}

/// <summary>
/// A model learning the built-in generated corpus (<see cref="TinyCorpus"/>) byte by byte, rows of random windows: `engine train`, and
/// the base model `engine sft` makes on the spot for its built-in default. The trainer and loop are built here; callers subscribe to
/// <see cref="Loop"/> (metrics, progress) and run it.
/// </summary>
public sealed class CorpusPretraining : IDisposable
{
    /// <summary>Stories of the generated corpus (629,309 bytes).</summary>
    public const int Stories = 4000;

    /// <summary>The default tokens per row: the tiny model's context.</summary>
    public const int WindowLength = 128;

    public const float LearningRate = 3e-3f;
    public const int WarmupSteps = 20;

    private readonly Trainer _trainer;

    public CorpusPretraining(Transformer model, PretrainSettings settings)
    {
        int[] tokens = new ByteChatTokenizer().Encode(TinyCorpus.Generate(Stories));
        CorpusTokens = tokens.Length;
        _trainer = new Trainer(model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Cosine, settings.LearningRate, settings.WarmupSteps, settings.Steps));
        var windows = new RandomWindows(tokens, settings.Rows, settings.WindowLength, settings.Seed);
        Loop = new TrainingLoop(_trainer, new LoopSettings { Steps = settings.Steps, Accumulate = settings.Accumulate }, Endless(windows));
    }

    public int CorpusTokens { get; }

    public TrainingLoop Loop { get; }

    public int StepCount => _trainer.StepCount;

    private static IEnumerable<Batch> Endless(RandomWindows windows)
    {
        while (true) yield return windows.Next();
    }

    public void Dispose() => _trainer.Dispose();
}
