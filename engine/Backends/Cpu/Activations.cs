using System.Runtime.Intrinsics;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends.Cpu;

/// <summary>GELU, tanh approximation (GPT-2's MLP), elementwise over any flat span.</summary>
public static unsafe class CpuGelu
{
    const float SqrtTwoOverPi = 0.7978845608028654f;
    const float Cubic = 0.044715f;

    /// <summary>Cap on the exponent in the backward: e^80 is finite in float32 and σ below e^−80 is zero for every purpose.</summary>
    const float MaxExponent = 80f;

    /// <summary>y = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³), computed in the equal form x / (1 + e^(−2u)),
    /// which stays finite for large |x| (e^(−2u) → ∞ gives −0, → 0 gives x). y may be x.</summary>
    public static void Forward(Span<float> y, ReadOnlySpan<float> x)
    {
        Arguments.RequireSameLength(x.Length, y.Length, nameof(x), nameof(y));
        fixed (float* py = y, px = x)
        {
            float* yp = py, xp = px;
            CpuParallel.ForEachChunk(y.Length, (start, count) => ForwardRange(yp + start, xp + start, count));
        }
    }

    /// <summary>dx += dy·gelu'(x), gelu'(x) = s·(1 + 2x·u'·(1 − s)), s = σ(2u) = 1/(1 + e), e = e^(−2u), u' = √(2/π)(1 + 3·0.044715x²).
    /// 1 − s is taken as e·s (no cancellation near s = 1), with e capped at e^80 so e·s stays finite. Accumulates into dx; an empty dx is skipped.</summary>
    public static void Backward(Span<float> dx, ReadOnlySpan<float> dy, ReadOnlySpan<float> x)
    {
        Arguments.RequireSameLength(dy.Length, x.Length, nameof(dy), nameof(x));
        if (dx.IsEmpty) return;
        Arguments.RequireSameLength(dx.Length, x.Length, nameof(dx), nameof(x));
        fixed (float* pdx = dx, pdy = dy, px = x)
        {
            float* dxp = pdx, dyp = pdy, xp = px;
            CpuParallel.ForEachChunk(x.Length, (start, count) => BackwardRange(dxp + start, dyp + start, xp + start, count));
        }
    }

    static void ForwardRange(float* y, float* x, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> k = Vector512.Create(SqrtTwoOverPi), a = Vector512.Create(Cubic), minusTwo = Vector512.Create(-2f), one = Vector512<float>.One;
            for (; i <= count - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var v = Vector512.Load(x + i);
                var u = k * (v + a * (v * v * v));
                Vector512.Store(v / (one + VectorExp.Exp(minusTwo * u)), y + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> k = Vector256.Create(SqrtTwoOverPi), a = Vector256.Create(Cubic), minusTwo = Vector256.Create(-2f), one = Vector256<float>.One;
            for (; i <= count - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.Load(x + i);
                var u = k * (v + a * (v * v * v));
                Vector256.Store(v / (one + Vector256.Exp(minusTwo * u)), y + i);
            }
        }
        for (; i < count; i++)
        {
            float v = x[i];
            float u = SqrtTwoOverPi * (v + Cubic * (v * v * v));
            y[i] = v / (1f + MathF.Exp(-2f * u));
        }
    }

    static void BackwardRange(float* dx, float* dy, float* x, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> k = Vector512.Create(SqrtTwoOverPi), a = Vector512.Create(Cubic), threeA = Vector512.Create(3f * Cubic),
                minusTwo = Vector512.Create(-2f), two = Vector512.Create(2f), one = Vector512<float>.One, maxExponent = Vector512.Create(MaxExponent);
            for (; i <= count - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var v = Vector512.Load(x + i);
                var square = v * v;
                var u = k * (v + a * (square * v));
                var du = k * (one + threeA * square);
                var e = VectorExp.Exp(Vector512.Min(minusTwo * u, maxExponent));
                var s = one / (one + e);
                Vector512.Store(Vector512.Load(dx + i) + Vector512.Load(dy + i) * (s * (one + two * v * du * (e * s))), dx + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> k = Vector256.Create(SqrtTwoOverPi), a = Vector256.Create(Cubic), threeA = Vector256.Create(3f * Cubic),
                minusTwo = Vector256.Create(-2f), two = Vector256.Create(2f), one = Vector256<float>.One, maxExponent = Vector256.Create(MaxExponent);
            for (; i <= count - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.Load(x + i);
                var square = v * v;
                var u = k * (v + a * (square * v));
                var du = k * (one + threeA * square);
                var e = Vector256.Exp(Vector256.Min(minusTwo * u, maxExponent));
                var s = one / (one + e);
                Vector256.Store(Vector256.Load(dx + i) + Vector256.Load(dy + i) * (s * (one + two * v * du * (e * s))), dx + i);
            }
        }
        for (; i < count; i++)
        {
            float v = x[i];
            float square = v * v;
            float u = SqrtTwoOverPi * (v + Cubic * (square * v));
            float du = SqrtTwoOverPi * (1f + 3f * Cubic * square);
            float e = MathF.Exp(MathF.Min(-2f * u, MaxExponent));
            float s = 1f / (1f + e);
            dx[i] += dy[i] * (s * (1f + 2f * v * du * (e * s)));
        }
    }
}

/// <summary>SwiGLU gating (Llama/Qwen2 MLP): y = silu(gate)·up elementwise, gate and up being the two projections.</summary>
public static unsafe class CpuSwiGlu
{
    /// <summary>Cap on the exponent in the backward: e^80 is finite in float32 and σ below e^−80 is zero for every purpose.</summary>
    const float MaxExponent = 80f;

    /// <summary>y = silu(gate)·up, silu(g) = g·σ(g) computed as g / (1 + e^(−g)) (as PyTorch's silu), finite for large |g|.
    /// All spans have the same length.</summary>
    public static void Forward(Span<float> y, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        Arguments.RequireSameLength(gate.Length, y.Length, nameof(gate), nameof(y));
        Arguments.RequireSameLength(up.Length, y.Length, nameof(up), nameof(y));
        fixed (float* py = y, pGate = gate, pUp = up)
        {
            float* yp = py, gatep = pGate, upp = pUp;
            CpuParallel.ForEachChunk(y.Length, (start, count) => ForwardRange(yp + start, gatep + start, upp + start, count));
        }
    }

    /// <summary>dGate += dy·up·s·(1 + g(1 − s)); dUp += dy·g·s; s = σ(g) = 1/(1 + e), e = e^(−g), 1 − s taken as e·s (no cancellation near s = 1),
    /// e capped at e^80 so e·s stays finite. Accumulates; an empty dGate or dUp is skipped.</summary>
    public static void Backward(Span<float> dGate, Span<float> dUp, ReadOnlySpan<float> dy, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        Arguments.RequireSameLength(dy.Length, gate.Length, nameof(dy), nameof(gate));
        Arguments.RequireSameLength(up.Length, gate.Length, nameof(up), nameof(gate));
        if (!dGate.IsEmpty) Arguments.RequireSameLength(dGate.Length, gate.Length, nameof(dGate), nameof(gate));
        if (!dUp.IsEmpty) Arguments.RequireSameLength(dUp.Length, gate.Length, nameof(dUp), nameof(gate));
        if (dGate.IsEmpty && dUp.IsEmpty) return;
        fixed (float* pdGate = dGate, pdUp = dUp, pdy = dy, pGate = gate, pUp = up)
        {
            float* dGatep = pdGate, dUpp = pdUp, dyp = pdy, gatep = pGate, upp = pUp;
            CpuParallel.ForEachChunk(gate.Length, (start, count) => BackwardRange(
                dGatep == null ? null : dGatep + start, dUpp == null ? null : dUpp + start, dyp + start, gatep + start, upp + start, count));
        }
    }

    static void ForwardRange(float* y, float* gate, float* up, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= count - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var g = Vector512.Load(gate + i);
                Vector512.Store(g / (Vector512<float>.One + VectorExp.Exp(-g)) * Vector512.Load(up + i), y + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= count - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var g = Vector256.Load(gate + i);
                Vector256.Store(g / (Vector256<float>.One + Vector256.Exp(-g)) * Vector256.Load(up + i), y + i);
            }
        }
        for (; i < count; i++)
        {
            float g = gate[i];
            y[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    /// <summary>The backward over [0, count); a null dGate or dUp is skipped.</summary>
    static void BackwardRange(float* dGate, float* dUp, float* dy, float* gate, float* up, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> one = Vector512<float>.One, maxExponent = Vector512.Create(MaxExponent);
            for (; i <= count - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var g = Vector512.Load(gate + i);
                var d = Vector512.Load(dy + i);
                var e = VectorExp.Exp(Vector512.Min(-g, maxExponent));
                var s = one / (one + e);
                if (dUp != null) Vector512.Store(Vector512.Load(dUp + i) + d * (g * s), dUp + i);
                if (dGate != null) Vector512.Store(Vector512.Load(dGate + i) + d * Vector512.Load(up + i) * s * (one + g * (e * s)), dGate + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> one = Vector256<float>.One, maxExponent = Vector256.Create(MaxExponent);
            for (; i <= count - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var g = Vector256.Load(gate + i);
                var d = Vector256.Load(dy + i);
                var e = Vector256.Exp(Vector256.Min(-g, maxExponent));
                var s = one / (one + e);
                if (dUp != null) Vector256.Store(Vector256.Load(dUp + i) + d * (g * s), dUp + i);
                if (dGate != null) Vector256.Store(Vector256.Load(dGate + i) + d * Vector256.Load(up + i) * s * (one + g * (e * s)), dGate + i);
            }
        }
        for (; i < count; i++)
        {
            float g = gate[i];
            float e = MathF.Exp(MathF.Min(-g, MaxExponent));
            float s = 1f / (1f + e);
            if (dUp != null) dUp[i] += dy[i] * (g * s);
            if (dGate != null) dGate[i] += dy[i] * up[i] * s * (1f + g * (e * s));
        }
    }
}

public sealed partial class CpuBackend
{
    public void GeluForward(Tensor y, Tensor x) => CpuGelu.Forward(F(y), F(x));
    public void GeluBackward(Tensor dx, Tensor dy, Tensor x) => CpuGelu.Backward(F(dx), F(dy), F(x));

    public void SwiGluForward(Tensor y, Tensor gate, Tensor up) => CpuSwiGlu.Forward(F(y), F(gate), F(up));
    public void SwiGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up)
        => CpuSwiGlu.Backward(F(dGate), F(dUp), F(dy), F(gate), F(up));
}
