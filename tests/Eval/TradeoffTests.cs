using Engine.Eval;
using Engine.Tests.Cli;
using Engine.Tests.Support;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Eval;

/// <summary>summary.json round-trips; engine tradeoff turns summaries into a table (gain and forgetting computed from before/after) and a PNG.</summary>
public class TradeoffTests
{
    static FineTuneSummary Summary(string method, double targetAfter, double otherAfter) => new(method, 2e-3f, 500, 51.25,
        new MemoryReport(1000, 80, 4320, 320, 640, 50 << 20), 6.0, targetAfter, 0.0, 0.25, 32, 0.5, otherAfter);

    [Fact]
    public void ASummaryRoundTripsThroughItsFile()
    {
        using var dir = new TempDirectory();
        var summary = Summary("LoRA r=8", 1.25, 2.0) with { ExactMatchBefore = double.NaN };
        summary.Write(dir.Path);
        var read = FineTuneSummary.Read(dir.Path);
        Assert.Equal(summary with { ExactMatchBefore = 0 }, read with { ExactMatchBefore = 0 });
        Assert.True(double.IsNaN(read.ExactMatchBefore));
        Assert.Equal(4.75, read.TargetGain, 12);
        Assert.Equal(1.5, read.Forgetting, 12);
    }

    [Fact]
    public void TheTableHasOneRowPerRunWithGainAndForgetting()
    {
        string table = Tradeoff.Table([("full", Summary("full", 0.5, 3.0)), ("lora", Summary("LoRA r=8", 1.25, 2.0))]);
        var lines = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Equal(lines[0].Count(c => c == '|'), lines[1].Count(c => c == '|'));
        Assert.Contains("| full | full | 0.002 | 80 | 0.00 | 0.00 | 51.2 | 6.000 → 0.500 | 0 % → 25 % of 32 | 0.500 → 3.000 | 5.500 | 2.500 |", lines[2]);
        Assert.Contains("| 4.750 | 1.500 |", lines[3]);
    }

    [Fact]
    public void TheCommandWritesTheTableAndThePlot()
    {
        using var dir = new TempDirectory();
        Summary("full", 0.5, 3.0).Write(Path.Combine(dir.Path, "full"));
        Summary("LoRA r=8", 1.25, 2.0).Write(Path.Combine(dir.Path, "lora"));
        string output = Path.Combine(dir.Path, "out");
        Assert.Equal((0, ""), CliRun.Run("tradeoff", Path.Combine(dir.Path, "full"), Path.Combine(dir.Path, "lora"), "--out", output));
        Assert.Contains("| lora | LoRA r=8 |", File.ReadAllText(Path.Combine(output, "tradeoff.md")));
        byte[] png = File.ReadAllBytes(Path.Combine(output, "tradeoff.png"));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);

        CliRun.AssertError(CliRun.Run("tradeoff", Path.Combine(dir.Path, "missing")), "summary.json does not exist");
    }
}
