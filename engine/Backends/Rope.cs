using System.Buffers;
using System.Numerics;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>
/// Rotary position embedding in the Hugging Face rotate-half convention: dimension i pairs with i + headDim/2.
/// Angles follow HF exactly: angle = float(position) · invFreq[i] as one float32 product, then float32 cos and sin.
/// </summary>
public static unsafe class CpuRope
{
    /// <summary>Tokens per parallel work item.</summary>
    private const int TokenBlock = 64;

    /// <summary>invFreq[i] = theta^(−2i/headDim) for i &lt; headDim/2 (plain RoPE; scaled variants supply another table).</summary>
    /// <remarks>Computed in float32 the way Hugging Face and Meta do, 1 / theta^(float(2i)/headDim), so long-position angles match theirs.</remarks>
    public static float[] InverseFrequencies(int headDim, double theta)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"headDim is {headDim}, expected a positive even number", nameof(headDim));
        if (!(theta > 1)) throw new ArgumentException($"theta is {theta}, expected > 1", nameof(theta));
        var invFreq = new float[headDim / 2];
        for (int i = 0; i < invFreq.Length; i++) invFreq[i] = 1f / MathF.Pow((float)theta, (float)(2 * i) / headDim);
        return invFreq;
    }

    /// <summary>y[i] = x[i]·cos − x[i+D/2]·sin, y[i+D/2] = x[i+D/2]·cos + x[i]·sin with angle = positions[r]·invFreq[i], for each token r and head.</summary>
    /// <remarks>x, y: [n, heads, headDim]; positions: [n] (packed rows restart at 0 per segment); invFreq: [headDim/2]. Overwrites y; y may be x itself.</remarks>
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<int> positions, ReadOnlySpan<float> invFreq, int n, int heads, int headDim)
    {
        RopeArguments.Require(y.Length, nameof(y), x.Length, nameof(x), positions.Length, invFreq.Length, n, heads, headDim);
        Apply(y, x, positions, invFreq, n, heads, headDim, inverse: false);
    }

    /// <summary>dx += Rᵀ·dy, the inverse rotation: dx[i] += dy[i]·cos + dy[i+D/2]·sin, dx[i+D/2] += dy[i+D/2]·cos − dy[i]·sin.</summary>
    /// <remarks>Layouts as in Forward. An empty dx is skipped.</remarks>
    public static void Backward(Span<float> dx, ReadOnlySpan<float> dy, ReadOnlySpan<int> positions, ReadOnlySpan<float> invFreq, int n, int heads, int headDim)
    {
        if (dx.IsEmpty) return;
        RopeArguments.Require(dx.Length, nameof(dx), dy.Length, nameof(dy), positions.Length, invFreq.Length, n, heads, headDim);
        Apply(dx, dy, positions, invFreq, n, heads, headDim, inverse: true);
    }

    private static void Apply(Span<float> dst, ReadOnlySpan<float> src, ReadOnlySpan<int> positions, ReadOnlySpan<float> invFreq,
        int n, int heads, int headDim, bool inverse)
    {
        int half = headDim / 2;
        // Angles are tabulated per distinct position when positions span a range no longer than n (the usual case), else per token.
        int minPos = int.MaxValue, maxPos = int.MinValue;
        foreach (int pos in positions)
        {
            minPos = Math.Min(minPos, pos);
            maxPos = Math.Max(maxPos, pos);
        }
        bool byPosition = (long)maxPos - minPos < n;
        int slots = byPosition ? maxPos - minPos + 1 : n;
        float[] table = ArrayPool<float>.Shared.Rent(slots * headDim);
        try
        {
            fixed (float* pDst = dst, pSrc = src, pTable = table, pInvFreq = invFreq)
            fixed (int* pPositions = positions)
            {
                float* dstBase = pDst, srcBase = pSrc, cosSin = pTable, freq = pInvFreq;
                int* pos = pPositions;
                float sinSign = inverse ? -1f : 1f;
                Parallel.For(0, (slots + TokenBlock - 1) / TokenBlock, block =>
                {
                    for (int slot = block * TokenBlock; slot < Math.Min(slots, (block + 1) * TokenBlock); slot++)
                    {
                        float position = byPosition ? minPos + slot : pos[slot];
                        float* cos = cosSin + (long)slot * headDim, sin = cos + half;
                        for (int i = 0; i < half; i++)
                        {
                            float angle = position * freq[i];
                            cos[i] = MathF.Cos(angle);
                            sin[i] = sinSign * MathF.Sin(angle);
                        }
                    }
                });
                Parallel.For(0, (n + TokenBlock - 1) / TokenBlock, block =>
                {
                    for (int r = block * TokenBlock; r < Math.Min(n, (block + 1) * TokenBlock); r++)
                    {
                        float* cos = cosSin + (long)(byPosition ? pos[r] - minPos : r) * headDim;
                        for (int h = 0; h < heads; h++)
                        {
                            long offset = ((long)r * heads + h) * headDim;
                            Rotate(dstBase + offset, srcBase + offset, cos, cos + half, half, accumulate: inverse);
                        }
                    }
                });
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(table);
        }
    }

    /// <summary>(d1, d2) (+)= (s1·cos − s2·sin, s2·cos + s1·sin) over the two halves of one head vector; dst may equal src.</summary>
    private static void Rotate(float* dst, float* src, float* cos, float* sin, int half, bool accumulate)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i + Vector<float>.Count <= half; i += Vector<float>.Count)
            {
                var a = Vector.Load(src + i);
                var b = Vector.Load(src + half + i);
                var c = Vector.Load(cos + i);
                var s = Vector.Load(sin + i);
                var first = a * c - b * s;
                var second = b * c + a * s;
                if (accumulate)
                {
                    first += Vector.Load(dst + i);
                    second += Vector.Load(dst + half + i);
                }
                first.Store(dst + i);
                second.Store(dst + half + i);
            }
        }
        for (; i < half; i++)
        {
            float a = src[i], b = src[half + i];
            float first = a * cos[i] - b * sin[i];
            float second = b * cos[i] + a * sin[i];
            dst[i] = accumulate ? dst[i] + first : first;
            dst[half + i] = accumulate ? dst[half + i] + second : second;
        }
    }
}

public sealed partial class CpuBackend
{
    public void RopeForward(Tensor y, Tensor x, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => CpuRope.Forward(F(y), F(x), I(positions), F(invFreq), n, heads, headDim);

    public void RopeBackward(Tensor dx, Tensor dy, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => CpuRope.Backward(F(dx), F(dy), I(positions), F(invFreq), n, heads, headDim);
}

public sealed partial class IlgpuBackend
{
    Rope? _rope;
    Rope RopeLauncher => Launcher(ref _rope, a => new Rope(a));

    public void RopeForward(Tensor y, Tensor x, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => RopeLauncher.Forward(F(y), F(x), I(positions), F(invFreq), n, heads, headDim);

    public void RopeBackward(Tensor dx, Tensor dy, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => RopeLauncher.Backward(F(dx), F(dy), I(positions), F(invFreq), n, heads, headDim);
}
