using System.Reflection;
using Engine.Kernels;
using Engine.Tests.Support;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>One CPU-accelerator context and one <see cref="MatMul"/> launcher (kernels loaded once) shared by the tests of a class.</summary>
public sealed class MatMulKernelFixture : IDisposable
{
    public MatMulKernelFixture()
    {
        Context = Accelerators.CpuContext();
        Accelerator = Accelerators.Cpu(Context);
        MatMul = new MatMul(Accelerator);
    }

    public Context Context { get; }
    public Accelerator Accelerator { get; }
    public MatMul MatMul { get; }

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}

public class MatMulKernelTests(MatMulKernelFixture fixture) : IClassFixture<MatMulKernelFixture>
{
    readonly MatMul matMul = fixture.MatMul;

    /// <summary>float64 reference: y[n, out] = x[n, in]·w[out, in]ᵀ + bias (bias null: none).</summary>
    static double[] Forward64(double[] x, double[] w, double[]? bias, int n, int inDim, int outDim)
    {
        var y = new double[n * outDim];
        for (int r = 0; r < n; r++)
            for (int o = 0; o < outDim; o++)
            {
                double s = bias?[o] ?? 0;
                for (int i = 0; i < inDim; i++) s += x[r * inDim + i] * w[o * inDim + i];
                y[r * outDim + o] = s;
            }
        return y;
    }

    /// <summary>float64 reference gradients of y = x·wᵀ + b: dx = dy·w, dw = dyᵀ·x, dbias = Σ_rows dy.</summary>
    static (double[] dx, double[] dw, double[] dbias) Backward64(double[] dy, double[] x, double[] w, int n, int inDim, int outDim)
    {
        var dx = new double[n * inDim];
        var dw = new double[outDim * inDim];
        var dbias = new double[outDim];
        for (int r = 0; r < n; r++)
            for (int o = 0; o < outDim; o++)
            {
                double g = dy[r * outDim + o];
                dbias[o] += g;
                for (int i = 0; i < inDim; i++)
                {
                    dx[r * inDim + i] += g * w[o * inDim + i];
                    dw[o * inDim + i] += g * x[r * inDim + i];
                }
            }
        return (dx, dw, dbias);
    }

    MemoryBuffer1D<T, Stride1D.Dense> Put<T>(T[] data) where T : unmanaged => fixture.Accelerator.Allocate1D(data);

    /// <summary>Waits for the queued kernels, then copies the whole view back.</summary>
    T[] Get<T>(ArrayView<T> view) where T : unmanaged
    {
        fixture.Accelerator.Synchronize();
        var data = new T[view.Length];
        view.CopyToCPU(data);
        return data;
    }

    /// <summary>A device copy of data that starts one element into its buffer, so no 16-byte access may be used on it.</summary>
    (MemoryBuffer1D<float, Stride1D.Dense> buffer, ArrayView<float> view) PutMisaligned(float[] data)
    {
        var buffer = Put(new float[1].Concat(data).ToArray());
        return (buffer, buffer.View.SubView(1, data.Length));
    }

    // Shapes: ragged against the 128 × 128 × 8 tile and 16-byte vectors (1, 5, 7, 17, 31, 33, 65, 70); k over several tiles (17, 40);
    // more than one tile of rows or columns (130, 132); 40/32/132 keep every leading dimension a multiple of 4 (the vectorized path).
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 3 }, { 5, 7, 31 }, { 33, 17, 65 }, { 70, 40, 65 }, { 70, 40, 32 }, { 33, 40, 132 }, { 130, 8, 16 }, { 2, 1, 1 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardMatchesFloat64Reference(int n, int inDim, int outDim)
    {
        var x = TestData.Uniform(n * inDim, 1);
        var w = TestData.Uniform(outDim * inDim, 2);
        var bias = TestData.Uniform(outDim, 3);
        using var xd = Put(x);
        using var wd = Put(w);
        using var biasd = Put(bias);
        using var yd = Put(TestData.Poisoned(n * outDim));
        using var yNoBias = Put(TestData.Poisoned(n * outDim));

        matMul.Forward(yd.View, xd.View, wd.View, biasd.View, n, inDim, outDim);
        matMul.Forward(yNoBias.View, xd.View, wd.View, ArrayView<float>.Empty, n, inDim, outDim);

        var x64 = TestData.ToDouble(x);
        var w64 = TestData.ToDouble(w);
        Check.Close(Forward64(x64, w64, TestData.ToDouble(bias), n, inDim, outDim), Get<float>(yd.View), 1e-5, "y");
        Check.Close(Forward64(x64, w64, null, n, inDim, outDim), Get<float>(yNoBias.View), 1e-5, "y without bias");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void BackwardMatchesFloat64Reference(int n, int inDim, int outDim)
    {
        var x = TestData.Uniform(n * inDim, 4);
        var w = TestData.Uniform(outDim * inDim, 5);
        var dy = TestData.Uniform(n * outDim, 6);
        using var xd = Put(x);
        using var wd = Put(w);
        using var dyd = Put(dy);
        using var dxd = Put(new float[n * inDim]);
        using var dwd = Put(new float[outDim * inDim]);
        using var dbiasd = Put(new float[outDim]);

        matMul.Backward(dxd.View, dwd.View, dbiasd.View, dyd.View, xd.View, wd.View, n, inDim, outDim);

        var (dx64, dw64, dbias64) = Backward64(TestData.ToDouble(dy), TestData.ToDouble(x), TestData.ToDouble(w), n, inDim, outDim);
        Check.Close(dx64, Get<float>(dxd.View), 1e-5, "dx");
        Check.Close(dw64, Get<float>(dwd.View), 1e-5, "dw");
        Check.Close(dbias64, Get<float>(dbiasd.View), 1e-5, "dbias");
    }

    [Fact]
    public void BackwardMatchesFiniteDifferencesOfTheReference()
    {
        const int n = 5, inDim = 7, outDim = 3;
        var x = TestData.Uniform(n * inDim, 7);
        var w = TestData.Uniform(outDim * inDim, 8);
        var bias = TestData.Uniform(outDim, 9);
        var r = TestData.Uniform(n * outDim, 10);
        double[] x64 = TestData.ToDouble(x), w64 = TestData.ToDouble(w), bias64 = TestData.ToDouble(bias);
        var dxFd = FiniteDifference.Gradient(v => FiniteDifference.Dot(Forward64(v, w64, bias64, n, inDim, outDim), r), x64);
        var dwFd = FiniteDifference.Gradient(v => FiniteDifference.Dot(Forward64(x64, v, bias64, n, inDim, outDim), r), w64);
        var dbiasFd = FiniteDifference.Gradient(v => FiniteDifference.Dot(Forward64(x64, w64, v, n, inDim, outDim), r), bias64);
        using var xd = Put(x);
        using var wd = Put(w);
        using var rd = Put(r);
        using var dxd = Put(new float[n * inDim]);
        using var dwd = Put(new float[outDim * inDim]);
        using var dbiasd = Put(new float[outDim]);

        matMul.Backward(dxd.View, dwd.View, dbiasd.View, rd.View, xd.View, wd.View, n, inDim, outDim);

        Check.Close(dxFd, Get<float>(dxd.View), 1e-5, "dx");
        Check.Close(dwFd, Get<float>(dwd.View), 1e-5, "dw");
        Check.Close(dbiasFd, Get<float>(dbiasd.View), 1e-5, "dbias");
    }

    [Theory]
    [InlineData(33, 17, 65)]
    [InlineData(70, 40, 32)]
    public void BackwardAccumulatesIntoItsOutputs(int n, int inDim, int outDim)
    {
        var x = TestData.Uniform(n * inDim, 11);
        var w = TestData.Uniform(outDim * inDim, 12);
        var dy = TestData.Uniform(n * outDim, 13);
        var dx0 = TestData.Uniform(n * inDim, 14);
        var dw0 = TestData.Uniform(outDim * inDim, 15);
        var dbias0 = TestData.Uniform(outDim, 16);
        using var xd = Put(x);
        using var wd = Put(w);
        using var dyd = Put(dy);
        using var dxd = Put(dx0);
        using var dwd = Put(dw0);
        using var dbiasd = Put(dbias0);

        matMul.Backward(dxd.View, dwd.View, dbiasd.View, dyd.View, xd.View, wd.View, n, inDim, outDim);
        matMul.Backward(dxd.View, dwd.View, dbiasd.View, dyd.View, xd.View, wd.View, n, inDim, outDim);

        var (dx64, dw64, dbias64) = Backward64(TestData.ToDouble(dy), TestData.ToDouble(x), TestData.ToDouble(w), n, inDim, outDim);
        Check.Close(TwiceAddedTo(dx0, dx64), Get<float>(dxd.View), 1e-5, "dx0 + 2·dx");
        Check.Close(TwiceAddedTo(dw0, dw64), Get<float>(dwd.View), 1e-5, "dw0 + 2·dw");
        Check.Close(TwiceAddedTo(dbias0, dbias64), Get<float>(dbiasd.View), 1e-5, "dbias0 + 2·dbias");
    }

    static double[] TwiceAddedTo(float[] start, double[] delta) => start.Select((s, i) => s + 2 * delta[i]).ToArray();

    [Fact]
    public void BackwardSkipsEmptyOutputsAndTheInputsOnlyTheyNeed()
    {
        const int n = 5, inDim = 7, outDim = 31;
        var x = TestData.Uniform(n * inDim, 17);
        var w = TestData.Uniform(outDim * inDim, 18);
        var dy = TestData.Uniform(n * outDim, 19);
        using var xd = Put(x);
        using var wd = Put(w);
        using var dyd = Put(dy);
        using var dxd = Put(new float[n * inDim]);
        using var dwd = Put(new float[outDim * inDim]);
        var empty = ArrayView<float>.Empty;
        var (dx64, dw64, _) = Backward64(TestData.ToDouble(dy), TestData.ToDouble(x), TestData.ToDouble(w), n, inDim, outDim);

        matMul.Backward(empty, dwd.View, empty, dyd.View, xd.View, empty, n, inDim, outDim);
        Check.Close(dw64, Get<float>(dwd.View), 1e-5, "dw alone");

        matMul.Backward(dxd.View, empty, empty, dyd.View, empty, wd.View, n, inDim, outDim);
        Check.Close(dx64, Get<float>(dxd.View), 1e-5, "dx alone");

        matMul.Backward(empty, empty, empty, dyd.View, empty, empty, n, inDim, outDim);
        var e = Assert.Throws<ArgumentException>(() => matMul.Backward(dxd.View, empty, empty, dyd.View, xd.View, empty, n, inDim, outDim));
        Assert.Equal("w", e.ParamName);
    }

    [Fact]
    public void MisalignedViewsTakeTheScalarPath()
    {
        const int n = 33, inDim = 40, outDim = 32;
        var x = TestData.Uniform(n * inDim, 20);
        var w = TestData.Uniform(outDim * inDim, 21);
        var dy = TestData.Uniform(n * outDim, 22);
        var (xb, xv) = PutMisaligned(x);
        var (wb, wv) = PutMisaligned(w);
        var (dyb, dyv) = PutMisaligned(dy);
        var (yb, yv) = PutMisaligned(TestData.Poisoned(n * outDim));
        var (dxb, dxv) = PutMisaligned(new float[n * inDim]);
        var (dwb, dwv) = PutMisaligned(new float[outDim * inDim]);
        using (xb) using (wb) using (dyb) using (yb) using (dxb) using (dwb)
        {
            matMul.Forward(yv, xv, wv, ArrayView<float>.Empty, n, inDim, outDim);
            matMul.Backward(dxv, dwv, ArrayView<float>.Empty, dyv, xv, wv, n, inDim, outDim);

            var x64 = TestData.ToDouble(x);
            var w64 = TestData.ToDouble(w);
            var (dx64, dw64, _) = Backward64(TestData.ToDouble(dy), x64, w64, n, inDim, outDim);
            Check.Close(Forward64(x64, w64, null, n, inDim, outDim), Get(yv), 1e-5, "y");
            Check.Close(dx64, Get(dxv), 1e-5, "dx");
            Check.Close(dw64, Get(dwv), 1e-5, "dw");
        }
    }

    [Fact]
    public void SizeMismatchNamesTheArgument()
    {
        using var buffer = Put(new float[64]);
        var v = buffer.View;
        var e = Assert.Throws<ArgumentException>(() => matMul.Forward(v.SubView(0, 10), v.SubView(0, 12), v.SubView(0, 15), ArrayView<float>.Empty, 4, 3, 5));
        Assert.Equal("y", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => matMul.Forward(v.SubView(0, 20), v.SubView(0, 12), v.SubView(0, 15), v.SubView(0, 4), 4, 3, 5));
        Assert.Equal("bias", e.ParamName);
    }

    [Fact]
    public void ResultsAreBitIdenticalRunToRun()
    {
        const int n = 70, inDim = 40, outDim = 65;
        var x = TestData.Uniform(n * inDim, 23);
        var w = TestData.Uniform(outDim * inDim, 24);
        var bias = TestData.Uniform(outDim, 25);
        var dy = TestData.Uniform(n * outDim, 26);
        using var xd = Put(x);
        using var wd = Put(w);
        using var biasd = Put(bias);
        using var dyd = Put(dy);

        float[][] Run()
        {
            using var yd = Put(new float[n * outDim]);
            using var dxd = Put(new float[n * inDim]);
            using var dwd = Put(new float[outDim * inDim]);
            using var dbiasd = Put(new float[outDim]);
            matMul.Forward(yd.View, xd.View, wd.View, biasd.View, n, inDim, outDim);
            matMul.Backward(dxd.View, dwd.View, dbiasd.View, dyd.View, xd.View, wd.View, n, inDim, outDim);
            return [Get<float>(yd.View), Get<float>(dxd.View), Get<float>(dwd.View), Get<float>(dbiasd.View)];
        }

        var first = Run();
        var second = Run();
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], second[i]);
    }

    // bf16: ragged k (7, 17, 40 = one full 32-wide slice and a tail) and the scalar loads (k not a multiple of 8) beside the 16-byte ones
    // (16, 40, 64); more than one tile of rows (130) or columns (136).
    [Theory]
    [InlineData(5, 7, 31)]
    [InlineData(33, 40, 65)]
    [InlineData(70, 17, 3)]
    [InlineData(130, 16, 9)]
    [InlineData(3, 64, 136)]
    public void ForwardBf16MatchesFloat64ReferenceOnRoundedInputs(int n, int inDim, int outDim)
    {
        var x = Bf16Bits(TestData.Uniform(n * inDim, 27));
        var w = Bf16Bits(TestData.Uniform(outDim * inDim, 28));
        using var xd = Put(x);
        using var wd = Put(w);
        using var yd = Put(TestData.Poisoned(n * outDim));

        matMul.ForwardBf16(yd.View, xd.View, wd.View, n, inDim, outDim);

        // Products of bf16 values are exact in fp32, so the only error is fp32 accumulation over k ≤ 64 terms.
        var expected = Forward64(Widened(x), Widened(w), null, n, inDim, outDim);
        Check.Close(expected, Get<float>(yd.View), 1e-5, "y (bf16 inputs)");
    }

    static ushort[] Bf16Bits(float[] values)
    {
        var bits = new ushort[values.Length];
        Bf16.FromFloat(values, bits);
        return bits;
    }

    static double[] Widened(ushort[] bits) => bits.Select(b => (double)Bf16.ToFloat(b)).ToArray();

    [Fact]
    public void Bf16RoundsToNearestEven()
    {
        Assert.Equal(0x3F80, Bf16.FromFloat(1f));
        Assert.Equal(0x3F80, Bf16.FromFloat(1f + MathF.Pow(2, -8)));      // halfway between 0x3F80 and 0x3F81: to even
        Assert.Equal(0x3F82, Bf16.FromFloat(1f + 3 * MathF.Pow(2, -8)));  // halfway between 0x3F81 and 0x3F82: to even
        Assert.Equal(0x3F81, Bf16.FromFloat(1f + 1.5f * MathF.Pow(2, -8))); // above halfway: up
        Assert.Equal(0xBF80, Bf16.FromFloat(-1f));
        Assert.Equal(0x7F80, Bf16.FromFloat(float.MaxValue));              // rounds up to +infinity
        Assert.True(float.IsNaN(Bf16.ToFloat(Bf16.FromFloat(float.NaN))));
        Assert.Equal(-2.5f, Bf16.ToFloat(Bf16.FromFloat(-2.5f)));
    }

    public static TheoryData<string, CudaArchitecture> KernelsAndArchitectures => new()
    {
        { nameof(MatMulKernels.Gemm), CudaArchitecture.SM_80 },
        { nameof(MatMulKernels.Gemm), CudaArchitecture.SM_90 },
        { nameof(MatMulKernels.ColumnSum), CudaArchitecture.SM_80 },
        { nameof(MatMulKernels.ColumnSum), CudaArchitecture.SM_90 },
        { nameof(MatMulKernels.GemmBf16), CudaArchitecture.SM_80 },
        { nameof(MatMulKernels.GemmBf16), CudaArchitecture.SM_90 },
    };

    [Theory]
    [MemberData(nameof(KernelsAndArchitectures))]
    public void KernelCompilesToPtx(string kernel, CudaArchitecture architecture)
    {
        var method = typeof(MatMulKernels).GetMethod(kernel, BindingFlags.Public | BindingFlags.Static)!;
        string ptx = Accelerators.CompileToPtx(fixture.Context, method, architecture, CudaInstructionSet.ISA_80);
        Assert.Contains(".entry", ptx);
        if (kernel == nameof(MatMulKernels.Gemm))
        {
            Assert.Contains("ld.shared.v4.f32", ptx);      // 16-byte shared reads in the inner loop
            Assert.DoesNotContain(".local", ptx);          // the 8 × 8 accumulators stay in registers
        }
        if (kernel == nameof(MatMulKernels.GemmBf16))
            Assert.Contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", ptx);
    }
}
