using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

/// <summary>
/// e^x for a vector of floats at once in float32 arithmetic, for the activations, the softmax of the LM head and attention:
/// a quarter of the instructions of Vector512.Exp (which widens to float64), within ~1.3 ulp of the correctly rounded value, exact
/// at the ends (0, 1, ∞). The same algorithm at every width: AVX-512's rounding and scaling instructions where the host has them,
/// portable rounding and exponent bits elsewhere (a 512-bit vector then in two 256-bit halves).
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
        if (!Avx512F.IsSupported) return Vector512.Create(Exp(x.GetLower()), Exp(x.GetUpper()));
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(MinInput)), Vector512.Create(MaxInput));
        var n = Avx512F.RoundScale(x * Vector512.Create(Log2E), 0x08);
        return Avx512F.Scale(ReducedExp<Vector512<float>, Lanes512>(x, n), n);
    }

    // The same without AVX-512: n rounded to nearest even by Vector256.Round, and 2^n applied as 2^⌊n/2⌋ · 2^(n−⌊n/2⌋), each built from
    // exponent bits (n reaches −150, below the smallest normal 2^−126): p·2^⌊n/2⌋ is exact, so the result rounds once, as vscalefps's.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(MinInput)), Vector256.Create(MaxInput));
        var n = Vector256.Round(x * Vector256.Create(Log2E));
        var p = ReducedExp<Vector256<float>, Lanes256>(x, n);
        var whole = Vector256.ConvertToInt32(n);
        var half = Vector256.ShiftRightArithmetic(whole, 1);
        return p * PowerOfTwo(half) * PowerOfTwo(whole - half);
    }

    /// <summary>e^x for four floats: the 256-bit algorithm on a doubled vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp(Vector128<float> x) => Exp(Vector256.Create(x, x)).GetLower();

    /// <summary>e^r for r = x − n·ln 2 (|r| ≤ ½ln 2; with FMA in two parts), by its Taylor polynomial to r⁷.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ReducedExp<TV, TL>(TV x, TV n) where TV : struct where TL : ILanes<TV>
    {
        var r = TL.MulAdd(n, TL.Splat(-Ln2High), x);
        r = TL.MulAdd(n, TL.Splat(-Ln2Low), r);
        var p = TL.MulAdd(TL.Splat(1f / 5040), r, TL.Splat(1f / 720));
        p = TL.MulAdd(p, r, TL.Splat(1f / 120));
        p = TL.MulAdd(p, r, TL.Splat(1f / 24));
        p = TL.MulAdd(p, r, TL.Splat(1f / 6));
        p = TL.MulAdd(p, r, TL.Splat(0.5f));
        p = TL.MulAdd(p, r, TL.Splat(1f));
        return TL.MulAdd(p, r, TL.Splat(1f));
    }

    /// <summary>2^n for −126 ≤ n ≤ 127, from the exponent bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> PowerOfTwo(Vector256<int> n) => Vector256.ShiftLeft(n + Vector256.Create(127), 23).AsSingle();
}
