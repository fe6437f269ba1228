using Engine.Eval;
using Xunit;

namespace Engine.Tests.Eval;

/// <summary>Standard errors, deltas, the regression flag and the gate, on hand-made per-example results.</summary>
public class EvalComparisonTests
{
    private static TaskResult Accuracy(string task, IEnumerable<int> correct) =>
        new(task, "exact", correct.Count(), [Metric.Mean("exact_match", correct.Select(c => (double)c), primary: true)], new Dictionary<string, double>(), [], 1);

    private static int[] Correct(int n, Func<int, bool> right) => Enumerable.Range(0, n).Select(i => right(i) ? 1 : 0).ToArray();

    [Fact]
    public void BootstrapErrorOfAnAccuracyIsNearTheBinomial()
    {
        var metric = Metric.Mean("acc", Correct(400, i => i % 2 == 0).Select(c => (double)c));
        var (error, _) = Bootstrap.StandardErrors(metric, null);
        Assert.InRange(error, 0.025 * 0.85, 0.025 * 1.15); // sqrt(0.5 · 0.5 / 400)
    }

    [Fact]
    public void AWorseningBeyondTheNoiseIsARegressionAndTheGateFailsOnlyOnNonTargets()
    {
        var baseline = Correct(100, i => i < 80);
        var forgot = Correct(100, i => i < 50);          // 30 answers lost
        var noisy = Correct(100, i => i < 79 || i == 85); // one lost, one gained... and one more lost: 79 → −1 net
        var models = new List<ModelResults>
        {
            new("base", [Accuracy("target", baseline), Accuracy("other", baseline)]),
            new("forgot", [Accuracy("target", baseline), Accuracy("other", forgot)]),
            new("noisy", [Accuracy("target", forgot), Accuracy("other", noisy)]),
        };
        var rows = EvalComparison.Compare(models);
        var other = rows.Single(r => r.Task == "other");
        Assert.Equal(-0.30, other.Cells[1].Delta, 12);
        Assert.True(other.Cells[1].Regressed);
        Assert.False(other.Cells[2].Regressed);
        Assert.True(rows.Single(r => r.Task == "target").Cells[2].Regressed);

        Assert.Equal(["other"], EvalComparison.GateFailures(rows, EvalComparison.ParseGate("target=target", ["target", "other"])));
        Assert.Empty(EvalComparison.GateFailures(rows, EvalComparison.ParseGate("target=target,other", ["target", "other"])));
        Assert.Contains("which the suite does not have", Assert.Throws<ArgumentException>(() => EvalComparison.ParseGate("target=nope", ["target"])).Message);
        Assert.Contains("expected target=TASK", Assert.Throws<ArgumentException>(() => EvalComparison.ParseGate("other", ["target"])).Message);
    }

    [Fact]
    public void ALossThatRoseIsARegression()
    {
        double[] tokens = Enumerable.Repeat(10.0, 50).ToArray();
        TaskResult Loss(double perToken) => new("stories", "loss", 50,
            [new Metric("loss", false, Enumerable.Range(0, 50).Select(i => 10 * (perToken + 0.1 * (i % 5))).ToArray(), tokens, Primary: true)], new Dictionary<string, double>(), [], 1);
        var rows = EvalComparison.Compare([new("base", [Loss(1.0)]), new("worse", [Loss(1.5)]), new("better", [Loss(0.5)])]);
        Assert.Equal(0.5, rows[0].Cells[1].Delta, 9);
        Assert.True(rows[0].Cells[1].Regressed);
        Assert.False(rows[0].Cells[2].Regressed);
    }

    [Fact]
    public void TheRegressionRule()
    {
        Assert.True(EvalComparison.Regressed(-0.10, 0.04, higherIsBetter: true));
        Assert.False(EvalComparison.Regressed(-0.07, 0.04, higherIsBetter: true));
        Assert.False(EvalComparison.Regressed(0.10, 0.04, higherIsBetter: true));
        Assert.True(EvalComparison.Regressed(0.10, 0.04, higherIsBetter: false));
        Assert.True(EvalComparison.Regressed(-0.01, 0, higherIsBetter: true));
        Assert.False(EvalComparison.Regressed(-0.5, double.NaN, higherIsBetter: true));
    }
}
