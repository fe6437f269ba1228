namespace Engine.Eval;

/// <summary>
/// Standard errors by the paired bootstrap: examples are resampled with replacement (the same resample for every model, since they
/// answered the same examples) and the metric recomputed; the standard deviation of those values is the standard error of the metric, and
/// that of the differences between two models the standard error of their delta. Seeded: the same results give the same errors.
/// </summary>
public static class Bootstrap
{
    public const int Resamples = 1000;

    /// <summary>The standard error of metric a and, when b is given (the same examples), of a − b.</summary>
    public static (double Error, double DeltaError) StandardErrors(Metric a, Metric? b, int seed = 1234)
    {
        int n = a.Numerators.Length;
        if (b is not null && b.Numerators.Length != n) throw new ArgumentException($"metric {a.Name}: {n} examples against {b.Numerators.Length}");
        if (n < 2) return (double.NaN, double.NaN);
        var rng = new Random(seed);
        var values = new double[Resamples];
        var deltas = new double[Resamples];
        var sample = new int[n];
        for (int r = 0; r < Resamples; r++)
        {
            for (int i = 0; i < n; i++) sample[i] = rng.Next(n);
            values[r] = a.Of(sample);
            deltas[r] = b is null ? 0 : values[r] - b.Of(sample);
        }
        return (StandardDeviation(values), b is null ? double.NaN : StandardDeviation(deltas));
    }

    private static double StandardDeviation(double[] x)
    {
        var finite = x.Where(double.IsFinite).ToArray();
        if (finite.Length < 2) return double.NaN;
        double mean = finite.Average();
        return Math.Sqrt(finite.Sum(v => (v - mean) * (v - mean)) / (finite.Length - 1));
    }
}
