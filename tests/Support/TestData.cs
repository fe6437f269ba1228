namespace Engine.Tests.Support;

/// <summary>Seeded random inputs for op tests: never zeros, never the same twice within a test.</summary>
public static class TestData
{
    /// <summary>n floats uniform in [-scale, scale).</summary>
    public static float[] Uniform(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    /// <summary>n ints uniform in [0, max).</summary>
    public static int[] Ints(int n, int seed, int max)
    {
        var rng = new Random(seed);
        var a = new int[n];
        for (int i = 0; i < n; i++) a[i] = rng.Next(max);
        return a;
    }

    public static double[] ToDouble(ReadOnlySpan<float> a)
    {
        var d = new double[a.Length];
        for (int i = 0; i < a.Length; i++) d[i] = a[i];
        return d;
    }

    /// <summary>A buffer filled with NaN, so an element the op forgets to write fails the comparison.</summary>
    public static float[] Poisoned(int n)
    {
        var a = new float[n];
        Array.Fill(a, float.NaN);
        return a;
    }
}
