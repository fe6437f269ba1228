using Engine.Diagnostics;
using Engine.Tests.Support;

namespace Engine.Tests.Ops;

/// <summary>Random operands of one linear layer: x [n, in], w [out, in], bias [out], dy [n, out] (seeds seed … seed + 3), with their float64
/// reference results; shared by the CPU op's tests and the kernels' tests.</summary>
public sealed record MatMulCase(int N, int InDim, int OutDim, float[] X, float[] W, float[] Bias, float[] Dy)
{
    public static MatMulCase Random(int n, int inDim, int outDim, int seed) => new(n, inDim, outDim, TestData.Uniform(n * inDim, seed),
        TestData.Uniform(outDim * inDim, seed + 1), TestData.Uniform(outDim, seed + 2), TestData.Uniform(n * outDim, seed + 3));

    /// <summary>y = x·wᵀ (+ bias) in float64.</summary>
    public double[] Forward64(bool withBias) =>
        Float64Reference.MatMul(TestData.ToDouble(X), TestData.ToDouble(W), withBias ? TestData.ToDouble(Bias) : null, N, InDim, OutDim);

    /// <summary>dx, dw, dbias for dy = Dy, by the float64 formulas.</summary>
    public (double[] dx, double[] dw, double[] dbias) Backward64() =>
        MatMulReference.Backward64(TestData.ToDouble(Dy), TestData.ToDouble(X), TestData.ToDouble(W), N, InDim, OutDim);

    /// <summary>dx, dw, dbias for dy = Dy, by central differences of the float64 forward (with bias).</summary>
    public (double[] dx, double[] dw, double[] dbias) FiniteDifferenceGradients() =>
        MatMulReference.FiniteDifferenceGradients(X, W, Bias, Dy, N, InDim, OutDim);

    public (float[] dx, float[] dw, float[] dbias) ZeroGradients() => (new float[N * InDim], new float[OutDim * InDim], new float[OutDim]);

    /// <summary>Random starting gradients, seeds seed, seed + 1, seed + 2.</summary>
    public (float[] dx, float[] dw, float[] dbias) RandomGradients(int seed) =>
        (TestData.Uniform(N * InDim, seed), TestData.Uniform(OutDim * InDim, seed + 1), TestData.Uniform(OutDim, seed + 2));
}
