using System.Globalization;
using System.Text.RegularExpressions;
using Engine.Tests.Support;
using SkiaSharp;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>`engine curate demo` end to end at its smallest (2 SFT steps per arm, 1 pretraining step, K = 1, one round, answers of at
/// most 4 tokens; about half a minute on 2 cores): results.md has the filter's table and a row per arm of the three parts with finite
/// numbers, and curation.png is a PNG that decodes.</summary>
public sealed partial class CurationDemoTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void The_smallest_demo_writes_every_parts_rows_and_the_plot()
    {
        string output = _temp.File("demo");
        Assert.Equal(0, CliRun.Run("curate", "demo", "--out", output, "--steps", "2", "--teacher-steps", "2", "--pretrain-steps", "1", "--k", "1",
            "--rounds", "1", "--max-new-tokens", "4", "--backend", "cpu").ExitCode);
        string[] lines = File.ReadAllLines(Path.Combine(output, "results.md"));

        // The filter's table does not depend on training: it is the one docs/CURATION.md shows.
        Assert.Equal(
        [
            "| clean | 1061 | 0 | 396 | 44 | 46 | 575 |",
            "| wrong | 117 | 0 | 0 | 1 | 1 | 115 |",
            "| truncated | 133 | 56 | 13 | 1 | 5 | 58 |",
            "| duplicate | 131 | 0 | 73 | 4 | 0 | 54 |",
            "| repetitive | 158 | 158 | 0 | 0 | 0 | 0 |",
        ], lines.Where(l => Regex.IsMatch(l, @"^\| (clean|wrong|truncated|duplicate|repetitive) \|")));

        var arms = lines.Select(l => ArmRow().Match(l)).Where(m => m.Success).ToDictionary(m => m.Groups["arm"].Value);
        Assert.Equal(["pool-all", "pool-random-subset", "pool-filtered", "rft-round-1", "teacher", "student-on-original", "student-on-teacher"], arms.Keys);
        Assert.Equal(["1600", "802", "802", "0", "400", "400", "400"], arms.Values.Select(m => m.Groups["rows"].Value));
        foreach (var (arm, row) in arms)
        {
            if (row.Groups["metrics"].Value == "not trained: no sample verified | — | —")
            {
                Assert.StartsWith("2 best-of-k", row.Groups["part"].Value);   // only a round without a verified sample, which has no rows
                Assert.Equal("0", row.Groups["rows"].Value);
                continue;
            }
            var metrics = Metrics().Match(row.Groups["metrics"].Value);
            Assert.True(metrics.Success, $"{arm}: {row.Groups["metrics"].Value}");
            Assert.All(new[] { "loss", "before", "after", "forgetting" }, g => Assert.True(double.IsFinite(double.Parse(metrics.Groups[g].Value, CultureInfo.InvariantCulture)), $"{arm} {g}"));
        }
        // Best-of-K's statistics are in its part's name.
        var statistics = Regex.Match(arms["rft-round-1"].Groups["part"].Value, @"acceptance (\d+) %, pass@1 ([\d.]+) %, pass@1 ([\d.]+) %");
        Assert.True(statistics.Success, arms["rft-round-1"].Groups["part"].Value);

        using var png = SKBitmap.Decode(Path.Combine(output, "curation.png"));
        Assert.NotNull(png);
        Assert.Equal((900, 520), (png.Width, png.Height));
    }

    [GeneratedRegex(@"^\| (?<part>[123] [^|]+) \| (?<arm>[a-z0-9-]+) \| (?<rows>\d+) \| (?<metrics>.+) \|$")]
    private static partial Regex ArmRow();

    [GeneratedRegex(@"^(?<loss>-?[\d.]+) \| (?<before>\d+) % → (?<after>\d+) % \| (?<forgetting>[+-][\d.]+)$")]
    private static partial Regex Metrics();
}
