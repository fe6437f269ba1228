using Engine.Diagnostics;
using Engine.Tests.Support;

namespace Engine.Tests.Ops;

/// <summary>The float64 gradients of the linear layer y = x·wᵀ + bias (naive loops; the forward is <see cref="Float64Reference.MatMul"/>), the
/// oracle of the CPU op, the matmul kernels and the LoRA reference built on it.</summary>
public static class MatMulReference
{
    /// <summary>Exact gradients of L = Σ y·dy: dx = dy·w, dw = dyᵀ·x, dbias = Σ_rows dy.</summary>
    public static (double[] dx, double[] dw, double[] dbias) Backward64(double[] dy, double[] x, double[] w, int n, int inDim, int outDim)
    {
        var dx = new double[n * inDim];
        var dw = new double[outDim * inDim];
        var dbias = new double[outDim];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outDim; o++)
            {
                double g = dy[i * outDim + o];
                dbias[o] += g;
                for (int k = 0; k < inDim; k++)
                {
                    dx[i * inDim + k] += g * w[o * inDim + k];
                    dw[o * inDim + k] += g * x[i * inDim + k];
                }
            }
        return (dx, dw, dbias);
    }

    /// <summary>dx, dw, dbias of L = Σ Float64Reference.MatMul(x, w, bias)·r by central differences: the oracle that checks the backward without trusting
    /// <see cref="Backward64"/>.</summary>
    public static (double[] dx, double[] dw, double[] dbias) FiniteDifferenceGradients(float[] x, float[] w, float[] bias, float[] r,
        int n, int inDim, int outDim)
    {
        double[] x64 = TestData.ToDouble(x), w64 = TestData.ToDouble(w), bias64 = TestData.ToDouble(bias);
        return (FiniteDifference.Gradient(v => FiniteDifference.Dot(Float64Reference.MatMul(v, w64, bias64, n, inDim, outDim), r), x64),
            FiniteDifference.Gradient(v => FiniteDifference.Dot(Float64Reference.MatMul(x64, v, bias64, n, inDim, outDim), r), w64),
            FiniteDifference.Gradient(v => FiniteDifference.Dot(Float64Reference.MatMul(x64, w64, v, n, inDim, outDim), r), bias64));
    }

    /// <summary>Check.Close of each of dx, dw, dbias against its expected value; <paramref name="when"/> ends each failure's name.</summary>
    public static void CheckGradients((double[] dx, double[] dw, double[] dbias) expected, (float[] dx, float[] dw, float[] dbias) actual,
        double tolerance, string when = "")
    {
        Check.Close(expected.dx, actual.dx, tolerance, "dx" + when);
        Check.Close(expected.dw, actual.dw, tolerance, "dw" + when);
        Check.Close(expected.dbias, actual.dbias, tolerance, "dbias" + when);
    }

    /// <summary>start + 2·gradient: what a gradient buffer that started at <paramref name="start"/> holds after two accumulating backward
    /// calls.</summary>
    public static double[] TwiceAddedTo(float[] start, double[] gradient)
    {
        var sum = new double[gradient.Length];
        for (int i = 0; i < sum.Length; i++) sum[i] = start[i] + 2 * gradient[i];
        return sum;
    }

    /// <summary><see cref="TwiceAddedTo(float[], double[])"/> of each of dx, dw, dbias.</summary>
    public static (double[] dx, double[] dw, double[] dbias) TwiceAddedTo((float[] dx, float[] dw, float[] dbias) start,
        (double[] dx, double[] dw, double[] dbias) gradients) =>
        (TwiceAddedTo(start.dx, gradients.dx), TwiceAddedTo(start.dw, gradients.dw), TwiceAddedTo(start.dbias, gradients.dbias));
}
