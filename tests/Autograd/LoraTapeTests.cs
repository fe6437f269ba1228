using Engine.Autograd;
using Engine.Backends;
using Engine.Tensors;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Autograd;

public class LoraTapeTests
{
    const int N = 4, InDim = 6, Hidden = 5, OutDim = 3, Rank1 = 2, Rank2 = 3;
    const float Scale1 = 0.75f, Scale2 = 1.5f;

    static Variable Leaf(CpuBackend backend, bool requiresGrad, float[] values, params int[] shape)
    {
        var t = backend.Allocate(DType.F32, shape);
        backend.Upload(t, values);
        return new Variable(t, requiresGrad) { Grad = requiresGrad ? backend.Allocate(DType.F32, shape) : null };
    }

    /// <summary>float64 y[i, o] = Σ_k x[i, k]·w[o, k] + bias[o] + scale·Σ_j (Σ_k x[i, k]·a[j, k])·b[o, j]  (bias null = none).</summary>
    static double[] Lora64(double[] x, double[] w, double[]? bias, double[] a, double[] b, double scale, int n, int inDim, int outDim, int rank)
    {
        var y = new double[n * outDim];
        for (int i = 0; i < n; i++)
        {
            var h = new double[rank];
            for (int j = 0; j < rank; j++)
                for (int k = 0; k < inDim; k++) h[j] += x[i * inDim + k] * a[j * inDim + k];
            for (int o = 0; o < outDim; o++)
            {
                double s = bias?[o] ?? 0;
                for (int k = 0; k < inDim; k++) s += x[i * inDim + k] * w[o * inDim + k];
                for (int j = 0; j < rank; j++) s += scale * h[j] * b[o * rank + j];
                y[i * outDim + o] = s;
            }
        }
        return y;
    }

    /// <summary>
    /// Two LoRA layers in a row: the first with a trainable W and bias, the second with a frozen W (its Grad buffer, set by an owner,
    /// must stay untouched) and no bias. L = Σ y₂·r; every trainable input's gradient matches finite differences of the float64 graph.
    /// </summary>
    [Fact]
    public void TwoLoraLayersGetFiniteDifferenceGradientsAndAFrozenWeightGetsNone()
    {
        using var backend = new CpuBackend();
        float[] x = TestData.Uniform(N * InDim, 1), w1 = TestData.Uniform(Hidden * InDim, 2), b1 = TestData.Uniform(Hidden, 3);
        float[] a1 = TestData.Uniform(Rank1 * InDim, 4), lb1 = TestData.Uniform(Hidden * Rank1, 5);
        float[] w2 = TestData.Uniform(OutDim * Hidden, 6), a2 = TestData.Uniform(Rank2 * Hidden, 7), lb2 = TestData.Uniform(OutDim * Rank2, 8);
        float[] r = TestData.Uniform(N * OutDim, 9);

        var vx = Leaf(backend, true, x, N, InDim);
        var (vw1, vb1) = (Leaf(backend, true, w1, Hidden, InDim), Leaf(backend, true, b1, Hidden));
        var (va1, vlb1) = (Leaf(backend, true, a1, Rank1, InDim), Leaf(backend, true, lb1, Hidden, Rank1));
        var vw2 = Leaf(backend, false, w2, OutDim, Hidden);
        var frozenGrad = backend.Allocate(DType.F32, OutDim, Hidden);
        backend.Upload(frozenGrad, Enumerable.Repeat(7f, OutDim * Hidden).ToArray());
        vw2.Grad = frozenGrad;
        var (va2, vlb2) = (Leaf(backend, true, a2, Rank2, Hidden), Leaf(backend, true, lb2, OutDim, Rank2));

        using var tape = new Tape(backend);
        var y1 = tape.Lora(vx, vw1, vb1, va1, vlb1, Scale1);
        var y2 = tape.Lora(y1, vw2, null, va2, vlb2, Scale2);
        Assert.True(y2.RequiresGrad);
        backend.Upload(tape.GradOf(y2), r);
        tape.Backward();

        double[] X = TestData.ToDouble(x), W1 = TestData.ToDouble(w1), B1 = TestData.ToDouble(b1), A1 = TestData.ToDouble(a1), LB1 = TestData.ToDouble(lb1);
        double[] W2 = TestData.ToDouble(w2), A2 = TestData.ToDouble(a2), LB2 = TestData.ToDouble(lb2);
        double L(double[] x_, double[] w1_, double[] b1_, double[] a1_, double[] lb1_, double[] a2_, double[] lb2_)
        {
            var h = Lora64(x_, w1_, b1_, a1_, lb1_, Scale1, N, InDim, Hidden, Rank1);
            return FiniteDifference.Dot(Lora64(h, W2, null, a2_, lb2_, Scale2, N, Hidden, OutDim, Rank2), r);
        }
        Check.Close(FiniteDifference.Gradient(v => L(v, W1, B1, A1, LB1, A2, LB2), X), CpuBackend.F(vx.Grad), 1e-5, "dx");
        Check.Close(FiniteDifference.Gradient(v => L(X, v, B1, A1, LB1, A2, LB2), W1), CpuBackend.F(vw1.Grad), 1e-5, "dW1");
        Check.Close(FiniteDifference.Gradient(v => L(X, W1, v, A1, LB1, A2, LB2), B1), CpuBackend.F(vb1.Grad), 1e-5, "dbias1");
        Check.Close(FiniteDifference.Gradient(v => L(X, W1, B1, v, LB1, A2, LB2), A1), CpuBackend.F(va1.Grad), 1e-5, "dA1");
        Check.Close(FiniteDifference.Gradient(v => L(X, W1, B1, A1, v, A2, LB2), LB1), CpuBackend.F(vlb1.Grad), 1e-5, "dB1");
        Check.Close(FiniteDifference.Gradient(v => L(X, W1, B1, A1, LB1, v, LB2), A2), CpuBackend.F(va2.Grad), 1e-5, "dA2");
        Check.Close(FiniteDifference.Gradient(v => L(X, W1, B1, A1, LB1, A2, v), LB2), CpuBackend.F(vlb2.Grad), 1e-5, "dB2");
        Assert.All(CpuBackend.F(frozenGrad).ToArray(), g => Assert.Equal(7f, g));
    }

    [Fact]
    public void AFrozenWeightGetsNoGradientBuffer()
    {
        using var backend = new CpuBackend();
        var x = Leaf(backend, false, TestData.Uniform(N * InDim, 10), N, InDim);
        var w = new Variable(backend.Allocate(DType.F32, OutDim, InDim), requiresGrad: false);
        var bias = new Variable(backend.Allocate(DType.F32, OutDim), requiresGrad: false);
        var a = Leaf(backend, true, TestData.Uniform(Rank1 * InDim, 11), Rank1, InDim);
        var b = Leaf(backend, true, TestData.Uniform(OutDim * Rank1, 12), OutDim, Rank1);
        using var tape = new Tape(backend);
        var y = tape.Lora(x, w, bias, a, b, Scale1);
        backend.Upload(tape.GradOf(y), TestData.Uniform(N * OutDim, 13));
        tape.Backward();

        Assert.Null(w.Grad);
        Assert.Null(bias.Grad);
        Assert.Contains(CpuBackend.F(a.Grad).ToArray(), g => g != 0);
        Assert.Contains(CpuBackend.F(b.Grad).ToArray(), g => g != 0);
    }

    [Fact]
    public void MismatchedAdapterShapesAreRejected()
    {
        using var backend = new CpuBackend();
        var x = Leaf(backend, false, new float[N * InDim], N, InDim);
        var w = Leaf(backend, false, new float[OutDim * InDim], OutDim, InDim);
        var a = Leaf(backend, true, new float[Rank1 * InDim], Rank1, InDim);
        var bTransposed = Leaf(backend, true, new float[Rank1 * OutDim], Rank1, OutDim);
        using var tape = new Tape(backend);
        Assert.Throws<ArgumentException>(() => tape.Lora(x, w, null, a, bTransposed, Scale1));
    }
}
