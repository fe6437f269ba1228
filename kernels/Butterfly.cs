using ILGPU;

namespace Engine.Kernels;

/// <summary>
/// Reductions over each aligned run of <c>lanes</c> lanes of a warp (a power of two ≤ the warp size) by xor butterfly: every lane of the run
/// gets the same value, and the same bits (a + b = b + a).
/// </summary>
internal static class Butterfly
{
    public static float Max(float x, int lanes)
    {
        for (int offset = 1; offset < lanes; offset *= 2) x = MathF.Max(x, Warp.ShuffleXor(x, offset));
        return x;
    }

    public static float Sum(float x, int lanes)
    {
        for (int offset = 1; offset < lanes; offset *= 2) x += Warp.ShuffleXor(x, offset);
        return x;
    }
}
