using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>Dropout with a stateless mask: element i is kept (and multiplied by scale) when <see cref="DropoutMask.Factor"/> says so,
/// the same function the GPU kernels use, so both backends drop the same elements for the same seed.</summary>
public static unsafe class CpuDropout
{
    /// <summary>y = x ⊙ m, m_i = scale when keep(seed, i) (probability 1 − p), else 0.
    /// Both spans have the same length; y may be x.</summary>
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, float p, float scale, uint seed)
    {
        Arguments.RequireSameLength(x.Length, y.Length, nameof(x), nameof(y));
        fixed (float* py = y, px = x)
        {
            float* yp = py, xp = px;
            CpuParallel.ForEachChunk(y.Length, (start, count) =>
            {
                for (int i = start; i < start + count; i++) yp[i] = xp[i] * DropoutMask.Factor(seed, i, p, scale);
            });
        }
    }

    /// <summary>dx += dy ⊙ m, the forward's mask recomputed from the seed.
    /// Both spans have the same length.</summary>
    public static void Backward(Span<float> dx, ReadOnlySpan<float> dy, float p, float scale, uint seed)
    {
        Arguments.RequireSameLength(dy.Length, dx.Length, nameof(dy), nameof(dx));
        fixed (float* pdx = dx, pdy = dy)
        {
            float* dxp = pdx, dyp = pdy;
            CpuParallel.ForEachChunk(dx.Length, (start, count) =>
            {
                for (int i = start; i < start + count; i++) dxp[i] += dyp[i] * DropoutMask.Factor(seed, i, p, scale);
            });
        }
    }
}

public sealed partial class CpuBackend
{
    public void DropoutForward(Tensor y, Tensor x, float p, float scale, uint seed) => CpuDropout.Forward(F(y), F(x), p, scale, seed);
    public void DropoutBackward(Tensor dx, Tensor dy, float p, float scale, uint seed) => CpuDropout.Backward(F(dx), F(dy), p, scale, seed);
}

public sealed partial class IlgpuBackend
{
    Dropout? _dropout;
    Dropout DropoutLauncher => Launcher(ref _dropout, a => new Dropout(a));

    public void DropoutForward(Tensor y, Tensor x, float p, float scale, uint seed) => DropoutLauncher.Forward(F(y), F(x), p, scale, seed);
    public void DropoutBackward(Tensor dx, Tensor dy, float p, float scale, uint seed) => DropoutLauncher.Backward(F(dx), F(dy), p, scale, seed);
}
