using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

/// <summary>The tests LayerNorm and RmsNorm share. Each normalizes every row of x [n, c] with learned per-column parameters and saves
/// per-row statistics for the backward; a derived class names its parameters and statistics and runs its CPU op and its float64 reference.
/// Random inputs take consecutive seeds: x, then the parameters in order, then the rest. Each derived op is derived again per vector width.</summary>
public abstract class RowNormTests(int bits) : AtLaneWidth(bits)
{
    /// <summary>The learned per-column parameters [c], in the op's argument order; their gradients are named "d" + name.</summary>
    protected abstract string[] Parameters { get; }

    /// <summary>The per-row statistics [n] the forward saves for the backward, in the op's argument order.</summary>
    protected abstract string[] Statistics { get; }

    /// <summary>The width c of the one-row case of the finite-difference check: the narrowest whose gradients float32 can resolve.</summary>
    protected abstract int OneRowWidth { get; }

    /// <summary>The CPU forward: overwrites y and the statistics.</summary>
    protected abstract void Forward(Span<float> y, float[][] statistics, ReadOnlySpan<float> x, float[][] parameters, int n, int c);

    /// <summary>The CPU backward: accumulates into dx and the parameter gradients; an empty dx or a null parameter gradient is not wanted.</summary>
    protected abstract void Backward(Span<float> dx, float[]?[] parameterGradients, ReadOnlySpan<float> dy, ReadOnlySpan<float> x,
        float[][] parameters, float[][] statistics, int n, int c);

    /// <summary>The float64 reference forward: y and the statistics.</summary>
    protected abstract (double[] y, double[][] statistics) Forward64(double[] x, double[][] parameters, int n, int c);

    /// <summary>One random array [c] per parameter, seeds seed, seed + 1, …</summary>
    float[][] PerColumn(int c, int seed) => [.. Parameters.Select((_, i) => TestData.Uniform(c, seed + i))];

    static float[][] Clone(float[][] arrays) => [.. arrays.Select(a => a.ToArray())];

    /// <summary>The statistics of a forward of x (its y thrown away).</summary>
    float[][] ForwardStatistics(float[] x, float[][] parameters, int n, int c)
    {
        float[][] statistics = [.. Statistics.Select(_ => new float[n])];
        Forward(new float[n * c], statistics, x, parameters, n, c);
        return statistics;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(4, 17)]
    [InlineData(5, 33)]
    [InlineData(2, 130)]
    [InlineData(70, 1001)] // n·c > 64K: the parallel path
    public void ForwardMatchesFloat64Reference(int n, int c)
    {
        var x = TestData.Uniform(n * c, 1, 2f);
        var parameters = PerColumn(c, seed: 2);
        var y = TestData.Poisoned(n * c);
        float[][] statistics = [.. Statistics.Select(_ => TestData.Poisoned(n))];

        Forward(y, statistics, x, parameters, n, c);

        var (y64, statistics64) = Forward64(TestData.ToDouble(x), [.. parameters.Select(p => TestData.ToDouble(p))], n, c);
        Check.Close(y64, y, 1e-5, "y");
        for (int i = 0; i < Statistics.Length; i++) Check.Close(statistics64[i], statistics[i], 1e-5, Statistics[i]);
    }

    [Fact]
    public void ForwardOfManyRowsEqualsRowByRowBitForBit()
    {
        const int n = 70, c = 1001;
        var x = TestData.Uniform(n * c, 4);
        var parameters = PerColumn(c, seed: 5);
        var y = TestData.Poisoned(n * c);
        float[][] statistics = [.. Statistics.Select(_ => TestData.Poisoned(n))];
        Forward(y, statistics, x, parameters, n, c);

        var yRow = new float[c];
        float[][] statisticsRow = [.. Statistics.Select(_ => new float[1])];
        for (int r = 0; r < n; r++)
        {
            Forward(yRow, statisticsRow, x.AsSpan(r * c, c), parameters, 1, c);
            Assert.Equal(yRow, y.AsSpan(r * c, c).ToArray());
            for (int i = 0; i < Statistics.Length; i++) Assert.Equal(statisticsRow[i][0], statistics[i][r]);
        }
    }

    [Fact]
    public void BackwardOfOneRowMatchesFiniteDifferences() => BackwardMatchesFiniteDifferences(1, OneRowWidth);

    /// <summary>dx and every parameter gradient against central differences of L = Σ Forward64(x, parameters).y · r.</summary>
    [Theory]
    [InlineData(3, 7)]
    [InlineData(2, 19)]
    [InlineData(4, 35)]
    public void BackwardMatchesFiniteDifferences(int n, int c)
    {
        var x = TestData.Uniform(n * c, 10, 2f);
        var parameters = PerColumn(c, seed: 11);
        var r = TestData.Uniform(n * c, 11 + Parameters.Length);
        double[] x64 = TestData.ToDouble(x);
        double[][] parameters64 = [.. parameters.Select(p => TestData.ToDouble(p))];
        double Loss(double[] xs, double[][] ps) => FiniteDifference.Dot(Forward64(xs, ps, n, c).y, r);
        var dx64 = FiniteDifference.Gradient(xs => Loss(xs, parameters64), x64);
        double[][] WithParameter(int i, double[] value) => [.. parameters64.Select((p, j) => j == i ? value : p)];
        var dParameters64 = parameters64.Select((p, i) => FiniteDifference.Gradient(v => Loss(x64, WithParameter(i, v)), p)).ToArray();

        var dx = new float[n * c];
        float[][] dParameters = [.. Parameters.Select(_ => new float[c])];
        Backward(dx, dParameters, r, x, parameters, ForwardStatistics(x, parameters, n, c), n, c);

        Check.Close(dx64, dx, 1e-5, "dx");
        for (int i = 0; i < Parameters.Length; i++) Check.Close(dParameters64[i], dParameters[i], 1e-5, "d" + Parameters[i]);
    }

    [Fact]
    public void BackwardAccumulatesAndSkipsEmptyGradients()
    {
        const int n = 3, c = 21;
        var x = TestData.Uniform(n * c, 20);
        var parameters = PerColumn(c, seed: 21);
        var dy = TestData.Uniform(n * c, 21 + Parameters.Length);
        var statistics = ForwardStatistics(x, parameters, n, c);

        var dx = new float[n * c];
        float[][] dParameters = [.. Parameters.Select(_ => new float[c])];
        Backward(dx, dParameters, dy, x, parameters, statistics, n, c);
        var dxOnce = (float[])dx.Clone();
        var dParametersOnce = Clone(dParameters);
        Backward(dx, dParameters, dy, x, parameters, statistics, n, c);
        // dx gets one addition per element (exactly 2×); a parameter gradient adds the rows again onto the first sum, so only float32 rounding apart.
        Assert.Equal(dxOnce.Select(v => 2 * v), dx);
        for (int i = 0; i < Parameters.Length; i++)
            Check.Close(dParametersOnce[i].Select(v => 2.0 * v).ToArray(), dParameters[i], 1e-6, $"d{Parameters[i]} twice");

        var dxOnly = new float[n * c];
        Backward(dxOnly, new float[]?[Parameters.Length], dy, x, parameters, statistics, n, c);
        Assert.Equal(dxOnce, dxOnly);

        for (int i = 0; i < Parameters.Length; i++)
        {
            var only = new float[]?[Parameters.Length];
            only[i] = new float[c];
            Backward(default, only, dy, x, parameters, statistics, n, c);
            Assert.Equal(dParametersOnce[i], only[i]);
        }
    }

    [Fact]
    public void BackwardOfManyRowsEqualsRowByRowBitForBit()
    {
        const int n = 90, c = 999;
        int next = 31 + Parameters.Length;
        var x = TestData.Uniform(n * c, 30);
        var parameters = PerColumn(c, seed: 31);
        var dy = TestData.Uniform(n * c, next);
        var statistics = ForwardStatistics(x, parameters, n, c);
        var dx = TestData.Uniform(n * c, next + 1);
        var dParameters = PerColumn(c, seed: next + 2);
        var dxRows = (float[])dx.Clone();
        var dParametersRows = Clone(dParameters);

        Backward(dx, dParameters, dy, x, parameters, statistics, n, c);
        for (int r = 0; r < n; r++)
            Backward(dxRows.AsSpan(r * c, c), dParametersRows, dy.AsSpan(r * c, c), x.AsSpan(r * c, c), parameters,
                [.. statistics.Select(s => new[] { s[r] })], 1, c);

        Assert.Equal(dxRows, dx);
        for (int i = 0; i < Parameters.Length; i++) Assert.Equal(dParametersRows[i], dParameters[i]);
    }
}
