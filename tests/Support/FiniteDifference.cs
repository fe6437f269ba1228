namespace Engine.Tests.Support;

/// <summary>Central finite differences of a float64 function: the oracle for every backward.</summary>
public static class FiniteDifference
{
    /// <summary>∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h for every i.</summary>
    public static double[] Gradient(Func<double[], double> f, double[] x, double h = 1e-6)
    {
        var g = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double saved = x[i];
            x[i] = saved + h; double plus = f(x);
            x[i] = saved - h; double minus = f(x);
            x[i] = saved;
            g[i] = (plus - minus) / (2 * h);
        }
        return g;
    }

    /// <summary>Σ_i y_i · r_i: the scalar whose gradient w.r.t. y is r, so a backward fed dy = r can be checked.</summary>
    public static double Dot(ReadOnlySpan<double> y, ReadOnlySpan<float> r)
    {
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += y[i] * r[i];
        return s;
    }
}
