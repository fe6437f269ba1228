using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

/// <summary>
/// e^x for sixteen floats at once in float32 arithmetic, for the activations, the softmax of the LM head and attention:
/// a quarter of the instructions of Vector512.Exp (which widens to float64), within ~1.3 ulp of the correctly rounded value.
/// Without AVX-512 (its rounding and scaling instructions) it is Vector512.Exp.
/// </summary>
public static class VectorExp
{
    private const float Log2E = 1.44269504f;

    /// <summary>ln 2 split in two: the float nearest ln 2, and the remainder.</summary>
    private const float Ln2High = 0.693147182f, Ln2Low = -1.90465432e-9f;

    /// <summary>Inputs are clamped here first: e^−104 rounds to 0 and e^89 overflows to ∞ in float32, as they should.</summary>
    private const float MinInput = -104f, MaxInput = 89f;

    // e^x = 2^n · e^r,  n = round(x·log2 e),  r = x − n·ln 2 (|r| ≤ ½ln 2, with FMA in two parts),
    // e^r by its Taylor polynomial to r⁷ (truncation below 6e−9 relative), 2^n applied by vscalefps (∞ and 0 at the ends). NaN stays NaN.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        if (!Avx512F.IsSupported) return Vector512.Exp(x);
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(MinInput)), Vector512.Create(MaxInput));
        var n = Avx512F.RoundScale(x * Vector512.Create(Log2E), 0x08);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2High), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Low), r);
        var p = Vector512.Create(1f / 5040);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        return Avx512F.Scale(p, n);
    }
}
