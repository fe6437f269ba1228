using Engine.Data;
using Engine.Eval;
using Engine.Jobs;
using Engine.Models;
using Engine.Tests.Cli;
using Engine.Tests.Support;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Jobs;

/// <summary>SftJob as a library caller (a later fine-tuning round) runs it: no CLI, no console, its stages reported in order.</summary>
public sealed class SftJobTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private sealed class Recorder : ISftObserver
    {
        public List<string> Stages { get; } = new();
        public void DataLoaded(DatasetStats train, int heldOut, string template) => Stages.Add($"data {train.Examples} {heldOut}");
        public void ModelReady(string? modelDirectory, Transformer model) => Stages.Add("model");
        public CancellationToken TrainingStarts(TrainingLoop loop, Baseline start, ResumePoint? resumed)
        {
            Stages.Add($"training {loop.FirstStep}..{loop.LastStep}");
            return default;
        }
        public void TrainingEnded() => Stages.Add("ended");
    }

    [Fact]
    public void RunsFromSettingsAndWritesTheModelAndSummary()
    {
        string data = CliRun.FourConversations(_temp);
        var settings = new SftSettings
        {
            Model = CliRun.TinyModel(Path.Combine(_temp.Path, "base")), Data = data, EvalData = data, Steps = 2, Rows = 2, MaxLen = 64,
            Backend = "cpu", SaveEvery = 0, Output = Path.Combine(_temp.Path, "run"),
        };
        var recorder = new Recorder();
        var result = SftJob.Run(settings, recorder);

        Assert.Equal(["data 4 4", "model", "training 1..2", "ended"], recorder.Stages);
        Assert.False(result.IsAdapter);
        Assert.True(File.Exists(Path.Combine(result.Saved, "model.safetensors")));
        var summary = FineTuneSummary.Read(settings.Output);
        Assert.Equal(2, summary.Steps);
        Assert.Equal(result.Summary.TargetLossAfter, summary.TargetLossAfter);
        Assert.Equal(SftJob.SampleAnswers, result.Samples.Count);
        Assert.All(result.Samples, s => Assert.Equal("hello!", s.Wanted));
        Assert.False(result.OtherDomainMeasured);
    }
}
