using Engine.Diagnostics;
using Xunit;

namespace Engine.Tests.Support;

/// <summary>Comparisons that print the relative error when they fail.</summary>
public static class Check
{
    /// <summary>max|actual - expected| / max(max|expected|, tiny): a norm-wise relative error.</summary>
    /// <summary><see cref="Selftest.RelativeError"/>, the lengths asserted equal.</summary>
    public static double RelativeError(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        return Selftest.RelativeError(expected, actual);
    }

    public static void Close(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        double err = RelativeError(expected, actual);
        Assert.True(err <= tolerance, $"{what}: relative error {err:E3} > {tolerance:E1}");
    }

    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what)
        => Close(TestData.ToDouble(expected), actual, tolerance, what);
}
