using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>GELU (tanh form, GPT-2), SwiGLU (Llama, Qwen2) and GeGLU (Gemma), elementwise, in the same overflow-safe forms as CpuGelu, CpuSwiGlu
/// and CpuGeGlu.</summary>
public static class ActivationsKernels
{
    const float SqrtTwoOverPi = 0.7978845608028654f;
    const float Cubic = 0.044715f;

    /// <summary>Cap on the exponent in the backwards: e^80 is finite in float32 and σ below e^−80 is zero for every purpose.</summary>
    const float MaxExponent = 80f;

    // y = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³), computed as x / (1 + e^(−2u)) (finite for large |x|).
    // Index i over the elements: one thread per element.
    public static void GeluForward(Index1D i, ArrayView<float> y, ArrayView<float> x) => y[i] = Gelu(x[i]);

    // dx += dy·s·(1 + 2x·u'·e·s), s = 1/(1 + e), e = min(e^(−2u), e^80), u' = √(2/π)(1 + 3·0.044715x²)  (1 − s taken as e·s).
    // Index i over the elements: one thread per element.
    public static void GeluBackward(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x) => dx[i] += dy[i] * GeluDerivative(x[i]);

    /// <summary>gelu(v) = v / (1 + e^(−2u)), u = √(2/π)(v + 0.044715v³).</summary>
    static float Gelu(float v)
    {
        float u = SqrtTwoOverPi * (v + Cubic * (v * v * v));
        return v / (1f + MathF.Exp(-2f * u));
    }

    /// <summary>gelu'(v) = s·(1 + 2v·u'·e·s), s = 1/(1 + e), e = min(e^(−2u), e^80), u' = √(2/π)(1 + 3·0.044715v²).</summary>
    static float GeluDerivative(float v)
    {
        float square = v * v;
        float u = SqrtTwoOverPi * (v + Cubic * (square * v));
        float du = SqrtTwoOverPi * (1f + 3f * Cubic * square);
        float e = MathF.Exp(MathF.Min(-2f * u, MaxExponent));
        float s = 1f / (1f + e);
        return s * (1f + 2f * v * du * (e * s));
    }

    // y = silu(gate)·up, silu(g) = g / (1 + e^(−g)).
    // Index i over the elements: one thread per element.
    public static void SwiGluForward(Index1D i, ArrayView<float> y, ArrayView<float> gate, ArrayView<float> up)
    {
        float g = gate[i];
        y[i] = g / (1f + MathF.Exp(-g)) * up[i];
    }

    // dGate += dy·up·s·(1 + g·e·s); dUp += dy·g·s; s = 1/(1 + e), e = min(e^(−g), e^80); an empty dGate or dUp is not written.
    // Index i over the elements: one thread per element.
    public static void SwiGluBackward(Index1D i, ArrayView<float> dGate, ArrayView<float> dUp, ArrayView<float> dy, ArrayView<float> gate, ArrayView<float> up)
    {
        float g = gate[i];
        float e = MathF.Exp(MathF.Min(-g, MaxExponent));
        float s = 1f / (1f + e);
        if (dUp.Length > 0) dUp[i] += dy[i] * (g * s);
        if (dGate.Length > 0) dGate[i] += dy[i] * up[i] * s * (1f + g * (e * s));
    }

    // y = gelu(gate)·up, gelu in the tanh form of GeluForward.
    // Index i over the elements: one thread per element.
    public static void GeGluForward(Index1D i, ArrayView<float> y, ArrayView<float> gate, ArrayView<float> up) => y[i] = Gelu(gate[i]) * up[i];

    // dGate += dy·up·gelu'(gate); dUp += dy·gelu(gate), gelu' as GeluBackward; an empty dGate or dUp is not written.
    // Index i over the elements: one thread per element.
    public static void GeGluBackward(Index1D i, ArrayView<float> dGate, ArrayView<float> dUp, ArrayView<float> dy, ArrayView<float> gate, ArrayView<float> up)
    {
        float g = gate[i];
        if (dUp.Length > 0) dUp[i] += dy[i] * Gelu(g);
        if (dGate.Length > 0) dGate[i] += dy[i] * up[i] * GeluDerivative(g);
    }
}

/// <summary>Launches the activation kernels on the accelerator's default stream (no synchronisation); arguments as CpuGelu, CpuSwiGlu and CpuGeGlu.</summary>
public sealed class Activations(Accelerator accelerator)
{
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _geluForward =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ActivationsKernels.GeluForward);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _geluBackward =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ActivationsKernels.GeluBackward);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _swiGluForward =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ActivationsKernels.SwiGluForward);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> _swiGluBackward =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ActivationsKernels.SwiGluBackward);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _geGluForward =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ActivationsKernels.GeGluForward);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> _geGluBackward =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ActivationsKernels.GeGluBackward);

    /// <summary>y = gelu(x); y may be x.</summary>
    public void GeluForward(ArrayView<float> y, ArrayView<float> x)
    {
        Arguments.RequireSameLength(x.Length, y.Length, nameof(x), nameof(y));
        Arguments.RequireIndexable(y.Length, nameof(y));
        if (y.Length > 0) _geluForward((int)y.Length, y, x);
    }

    /// <summary>dx += dy·gelu'(x). Accumulates; an empty dx is skipped.</summary>
    public void GeluBackward(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x)
    {
        Arguments.RequireSameLength(dy.Length, x.Length, nameof(dy), nameof(x));
        if (dx.Length == 0) return;
        Arguments.RequireSameLength(dx.Length, x.Length, nameof(dx), nameof(x));
        Arguments.RequireIndexable(x.Length, nameof(x));
        _geluBackward((int)x.Length, dx, dy, x);
    }

    /// <summary>y = silu(gate)·up; all views have the same length.</summary>
    public void SwiGluForward(ArrayView<float> y, ArrayView<float> gate, ArrayView<float> up)
    {
        Arguments.RequireSameLength(gate.Length, y.Length, nameof(gate), nameof(y));
        Arguments.RequireSameLength(up.Length, y.Length, nameof(up), nameof(y));
        Arguments.RequireIndexable(y.Length, nameof(y));
        if (y.Length > 0) _swiGluForward((int)y.Length, y, gate, up);
    }

    /// <summary>dGate += dy·up·silu'(gate); dUp += dy·silu(gate). Accumulates; an empty dGate or dUp is skipped.</summary>
    public void SwiGluBackward(ArrayView<float> dGate, ArrayView<float> dUp, ArrayView<float> dy, ArrayView<float> gate, ArrayView<float> up)
    {
        Arguments.RequireSameLength(dy.Length, gate.Length, nameof(dy), nameof(gate));
        Arguments.RequireSameLength(up.Length, gate.Length, nameof(up), nameof(gate));
        if (dGate.Length > 0) Arguments.RequireSameLength(dGate.Length, gate.Length, nameof(dGate), nameof(gate));
        if (dUp.Length > 0) Arguments.RequireSameLength(dUp.Length, gate.Length, nameof(dUp), nameof(gate));
        if ((dGate.Length == 0 && dUp.Length == 0) || gate.Length == 0) return;
        Arguments.RequireIndexable(gate.Length, nameof(gate));
        _swiGluBackward((int)gate.Length, dGate, dUp, dy, gate, up);
    }

    /// <summary>y = gelu(gate)·up; all views have the same length.</summary>
    public void GeGluForward(ArrayView<float> y, ArrayView<float> gate, ArrayView<float> up)
    {
        Arguments.RequireSameLength(gate.Length, y.Length, nameof(gate), nameof(y));
        Arguments.RequireSameLength(up.Length, y.Length, nameof(up), nameof(y));
        Arguments.RequireIndexable(y.Length, nameof(y));
        if (y.Length > 0) _geGluForward((int)y.Length, y, gate, up);
    }

    /// <summary>dGate += dy·up·gelu'(gate); dUp += dy·gelu(gate). Accumulates; an empty dGate or dUp is skipped.</summary>
    public void GeGluBackward(ArrayView<float> dGate, ArrayView<float> dUp, ArrayView<float> dy, ArrayView<float> gate, ArrayView<float> up)
    {
        Arguments.RequireSameLength(dy.Length, gate.Length, nameof(dy), nameof(gate));
        Arguments.RequireSameLength(up.Length, gate.Length, nameof(up), nameof(gate));
        if (dGate.Length > 0) Arguments.RequireSameLength(dGate.Length, gate.Length, nameof(dGate), nameof(gate));
        if (dUp.Length > 0) Arguments.RequireSameLength(dUp.Length, gate.Length, nameof(dUp), nameof(gate));
        if ((dGate.Length == 0 && dUp.Length == 0) || gate.Length == 0) return;
        Arguments.RequireIndexable(gate.Length, nameof(gate));
        _geGluBackward((int)gate.Length, dGate, dUp, dy, gate, up);
    }
}
