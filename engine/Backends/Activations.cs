using System.Runtime.Intrinsics;
using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

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
            var width = CpuLanes.Current;
            CpuParallel.ForEachChunk(y.Length, (start, count) => ForwardRange(width, yp + start, xp + start, count));
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
            var width = CpuLanes.Current;
            CpuParallel.ForEachChunk(x.Length, (start, count) => BackwardRange(width, dxp + start, dyp + start, xp + start, count));
        }
    }

    /// <summary>Whole vectors of the width, then the rest one at a time.</summary>
    static void ForwardRange(LaneWidth width, float* y, float* x, int count)
    {
        int i = 0;
        if (width == LaneWidth.Bits512) ForwardVectors<Lanes512, Vector512<float>>(y, x, ref i, count);
        if (width == LaneWidth.Bits256) ForwardVectors<Lanes256, Vector256<float>>(y, x, ref i, count);
        ForwardVectors<LanesScalar, float>(y, x, ref i, count);
    }

    /// <summary>Elements [i, count) in whole vectors of TL; i ends at the first element not done.</summary>
    static void ForwardVectors<TL, TV>(float* y, float* x, ref int i, int count) where TL : struct, ILanes<TV> where TV : struct
    {
        for (; i + TL.Count <= count; i += TL.Count) TL.Store(y + i, Value<TL, TV>(TL.Load(x + i)));
    }

    /// <summary>gelu(v) = v / (1 + e^(−2u)), u = √(2/π)(v + 0.044715v³), per lane (also GeGLU's).</summary>
    internal static TV Value<TL, TV>(TV v) where TL : struct, ILanes<TV> where TV : struct
    {
        TV u = TL.Mul(TL.Splat(SqrtTwoOverPi), TL.Add(v, TL.Mul(TL.Splat(Cubic), TL.Mul(TL.Mul(v, v), v))));
        return TL.Divide(v, TL.Add(TL.Splat(1f), TL.Exp(TL.Mul(TL.Splat(-2f), u))));
    }

    /// <summary>gelu'(v) = s·(1 + 2v·u'·(e·s)), s = 1/(1 + e), e = min(e^(−2u), e^80), per lane (also GeGLU's).</summary>
    internal static TV Derivative<TL, TV>(TV v) where TL : struct, ILanes<TV> where TV : struct
    {
        TV k = TL.Splat(SqrtTwoOverPi), one = TL.Splat(1f);
        TV square = TL.Mul(v, v);
        TV u = TL.Mul(k, TL.Add(v, TL.Mul(TL.Splat(Cubic), TL.Mul(square, v))));
        TV du = TL.Mul(k, TL.Add(one, TL.Mul(TL.Splat(3f * Cubic), square)));
        TV e = TL.Exp(TL.Min(TL.Mul(TL.Splat(-2f), u), TL.Splat(MaxExponent)));
        TV s = TL.Divide(one, TL.Add(one, e));
        return TL.Mul(s, TL.Add(one, TL.Mul(TL.Mul(TL.Mul(TL.Splat(2f), v), du), TL.Mul(e, s))));
    }

    static void BackwardRange(LaneWidth width, float* dx, float* dy, float* x, int count)
    {
        int i = 0;
        if (width == LaneWidth.Bits512) BackwardVectors<Lanes512, Vector512<float>>(dx, dy, x, ref i, count);
        if (width == LaneWidth.Bits256) BackwardVectors<Lanes256, Vector256<float>>(dx, dy, x, ref i, count);
        BackwardVectors<LanesScalar, float>(dx, dy, x, ref i, count);
    }

    static void BackwardVectors<TL, TV>(float* dx, float* dy, float* x, ref int i, int count) where TL : struct, ILanes<TV> where TV : struct
    {
        for (; i + TL.Count <= count; i += TL.Count)
            TL.Store(dx + i, TL.Add(TL.Load(dx + i), TL.Mul(TL.Load(dy + i), Derivative<TL, TV>(TL.Load(x + i)))));
    }
}

/// <summary>A gated MLP's per-lane math: y = act(gate)·up and its two gradient terms (<see cref="CpuSwiGlu"/>, <see cref="CpuGeGlu"/>).</summary>
internal interface IGate
{
    static abstract TV Forward<TL, TV>(TV gate, TV up) where TL : struct, ILanes<TV> where TV : struct;

    /// <summary>dGate = dy·∂y/∂gate, dUp = dy·∂y/∂up at one lane vector.</summary>
    static abstract (TV DGate, TV DUp) Backward<TL, TV>(TV gate, TV up, TV dy) where TL : struct, ILanes<TV> where TV : struct;
}

/// <summary>A gated activation y = act(gate)·up elementwise over spans of one length, its math from TGate; the loops over lane widths and
/// threads are written once here for every gate.</summary>
internal abstract unsafe class CpuGated<TGate> where TGate : IGate
{
    public static void Forward(Span<float> y, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        Arguments.RequireSameLength(gate.Length, y.Length, nameof(gate), nameof(y));
        Arguments.RequireSameLength(up.Length, y.Length, nameof(up), nameof(y));
        fixed (float* py = y, pGate = gate, pUp = up)
        {
            float* yp = py, gatep = pGate, upp = pUp;
            var width = CpuLanes.Current;
            CpuParallel.ForEachChunk(y.Length, (start, count) => ForwardRange(width, yp + start, gatep + start, upp + start, count));
        }
    }

    /// <summary>dGate += dy·∂y/∂gate, dUp += dy·∂y/∂up. Accumulates; an empty dGate or dUp is skipped.</summary>
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
            var width = CpuLanes.Current;
            CpuParallel.ForEachChunk(gate.Length, (start, count) => BackwardRange(width,
                dGatep == null ? null : dGatep + start, dUpp == null ? null : dUpp + start, dyp + start, gatep + start, upp + start, count));
        }
    }

    /// <summary>Whole vectors of the width, then the rest one at a time.</summary>
    static void ForwardRange(LaneWidth width, float* y, float* gate, float* up, int count)
    {
        int i = 0;
        if (width == LaneWidth.Bits512) ForwardVectors<Lanes512, Vector512<float>>(y, gate, up, ref i, count);
        if (width == LaneWidth.Bits256) ForwardVectors<Lanes256, Vector256<float>>(y, gate, up, ref i, count);
        ForwardVectors<LanesScalar, float>(y, gate, up, ref i, count);
    }

    /// <summary>Elements [i, count) in whole vectors of TL; i ends at the first element not done.</summary>
    static void ForwardVectors<TL, TV>(float* y, float* gate, float* up, ref int i, int count) where TL : struct, ILanes<TV> where TV : struct
    {
        for (; i + TL.Count <= count; i += TL.Count) TL.Store(y + i, TGate.Forward<TL, TV>(TL.Load(gate + i), TL.Load(up + i)));
    }

    /// <summary>The backward over [0, count); a null dGate or dUp is skipped.</summary>
    static void BackwardRange(LaneWidth width, float* dGate, float* dUp, float* dy, float* gate, float* up, int count)
    {
        int i = 0;
        if (width == LaneWidth.Bits512) BackwardVectors<Lanes512, Vector512<float>>(dGate, dUp, dy, gate, up, ref i, count);
        if (width == LaneWidth.Bits256) BackwardVectors<Lanes256, Vector256<float>>(dGate, dUp, dy, gate, up, ref i, count);
        BackwardVectors<LanesScalar, float>(dGate, dUp, dy, gate, up, ref i, count);
    }

    static void BackwardVectors<TL, TV>(float* dGate, float* dUp, float* dy, float* gate, float* up, ref int i, int count)
        where TL : struct, ILanes<TV> where TV : struct
    {
        for (; i + TL.Count <= count; i += TL.Count)
        {
            var (g, u) = TGate.Backward<TL, TV>(TL.Load(gate + i), TL.Load(up + i), TL.Load(dy + i));
            if (dUp != null) TL.Store(dUp + i, TL.Add(TL.Load(dUp + i), u));
            if (dGate != null) TL.Store(dGate + i, TL.Add(TL.Load(dGate + i), g));
        }
    }
}

/// <summary>SwiGLU gating (Llama/Qwen2 MLP): y = silu(gate)·up elementwise, gate and up being the two projections.</summary>
internal sealed class CpuSwiGlu : CpuGated<CpuSwiGlu>, IGate
{
    /// <summary>Cap on the exponent in the backward: e^80 is finite in float32 and σ below e^−80 is zero for every purpose.</summary>
    const float MaxExponent = 80f;

    /// <summary>y = silu(g)·up, silu(g) = g·σ(g) computed as g / (1 + e^(−g)) (as PyTorch's silu), finite for large |g|.</summary>
    public static TV Forward<TL, TV>(TV g, TV up) where TL : struct, ILanes<TV> where TV : struct =>
        TL.Mul(TL.Divide(g, TL.Add(TL.Splat(1f), TL.Exp(TL.Negate(g)))), up);

    /// <summary>dGate = dy·up·s·(1 + g(1 − s)); dUp = dy·g·s; s = σ(g) = 1/(1 + e), e = e^(−g), 1 − s taken as e·s (no cancellation near
    /// s = 1), e capped at e^80 so e·s stays finite.</summary>
    public static (TV DGate, TV DUp) Backward<TL, TV>(TV g, TV up, TV d) where TL : struct, ILanes<TV> where TV : struct
    {
        TV one = TL.Splat(1f);
        TV e = TL.Exp(TL.Min(TL.Negate(g), TL.Splat(MaxExponent)));
        TV s = TL.Divide(one, TL.Add(one, e));
        return (TL.Mul(TL.Mul(TL.Mul(d, up), s), TL.Add(one, TL.Mul(g, TL.Mul(e, s)))), TL.Mul(d, TL.Mul(g, s)));
    }
}

/// <summary>GeGLU gating (Gemma's MLP): y = gelu(gate)·up elementwise, gelu in <see cref="CpuGelu"/>'s tanh form (PyTorch's gelu_pytorch_tanh).</summary>
internal sealed class CpuGeGlu : CpuGated<CpuGeGlu>, IGate
{
    /// <summary>y = gelu(g)·up, gelu(g) = g / (1 + e^(−2u)), u = √(2/π)(g + 0.044715g³), finite for large |g|.</summary>
    public static TV Forward<TL, TV>(TV g, TV up) where TL : struct, ILanes<TV> where TV : struct => TL.Mul(CpuGelu.Value<TL, TV>(g), up);

    /// <summary>dGate = dy·up·gelu'(g); dUp = dy·gelu(g), gelu' as <see cref="CpuGelu.Backward"/> computes it (1 − s taken as e·s, e capped at e^80).</summary>
    public static (TV DGate, TV DUp) Backward<TL, TV>(TV g, TV up, TV d) where TL : struct, ILanes<TV> where TV : struct =>
        (TL.Mul(TL.Mul(d, up), CpuGelu.Derivative<TL, TV>(g)), TL.Mul(d, CpuGelu.Value<TL, TV>(g)));
}

public sealed partial class CpuBackend
{
    public void GeluForward(Tensor y, Tensor x) => CpuGelu.Forward(F(y), F(x));
    public void GeluBackward(Tensor dx, Tensor dy, Tensor x) => CpuGelu.Backward(F(dx), F(dy), F(x));

    public void SwiGluForward(Tensor y, Tensor gate, Tensor up) => CpuSwiGlu.Forward(F(y), F(gate), F(up));
    public void SwiGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up)
        => CpuSwiGlu.Backward(F(dGate), F(dUp), F(dy), F(gate), F(up));

    public void GeGluForward(Tensor y, Tensor gate, Tensor up) => CpuGeGlu.Forward(F(y), F(gate), F(up));
    public void GeGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up)
        => CpuGeGlu.Backward(F(dGate), F(dUp), F(dy), F(gate), F(up));
}

public sealed partial class IlgpuBackend
{
    Activations? _activations;
    Activations ActivationsLauncher => Launcher(ref _activations, a => new Activations(a));

    public void GeluForward(Tensor y, Tensor x) => ActivationsLauncher.GeluForward(F(y), F(x));
    public void GeluBackward(Tensor dx, Tensor dy, Tensor x) => ActivationsLauncher.GeluBackward(F(dx), F(dy), F(x));

    public void SwiGluForward(Tensor y, Tensor gate, Tensor up) => ActivationsLauncher.SwiGluForward(F(y), F(gate), F(up));
    public void SwiGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up)
        => ActivationsLauncher.SwiGluBackward(F(dGate), F(dUp), F(dy), F(gate), F(up));

    public void GeGluForward(Tensor y, Tensor gate, Tensor up) => ActivationsLauncher.GeGluForward(F(y), F(gate), F(up));
    public void GeGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up)
        => ActivationsLauncher.GeGluBackward(F(dGate), F(dUp), F(dy), F(gate), F(up));
}
