using Xunit;

namespace Engine.Tests.Support;

/// <summary>Comparisons that print the relative error when they fail.</summary>
public static class Check
{
    /// <summary>max|actual - expected| / max(max|expected|, tiny): a norm-wise relative error.</summary>
    public static double RelativeError(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(d)) return double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, d);
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        return maxDiff / Math.Max(maxRef, 1e-30);
    }

    public static void Close(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        double err = RelativeError(expected, actual);
        Assert.True(err <= tolerance, $"{what}: relative error {err:E3} > {tolerance:E1}");
    }

    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what)
        => Close(TestData.ToDouble(expected), actual, tolerance, what);
}
