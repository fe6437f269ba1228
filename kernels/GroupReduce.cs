using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Reductions across the threads of one group, in an order fixed by the group and warp sizes alone (a shuffle-down tree within
/// each warp, then the warp results in warp order), so every run gives the same bits; every thread gets the same result.
/// Each contains barriers: call it from all threads of the group. The group size must be a multiple of the warp size, and
/// <c>partials</c> is shared memory with at least one element per warp.
/// </summary>
internal static class GroupReduce
{
    public static float Sum(float value, ArrayView<float> partials)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2)
            value += Warp.ShuffleDown(value, offset);
        if (Warp.IsFirstLane) partials[Warp.WarpIdx] = value;
        Group.Barrier();
        float total = partials[0];
        for (int w = 1; w < Group.DimX / Warp.WarpSize; w++) total += partials[w];
        Group.Barrier();
        return total;
    }

    public static double Sum(double value, ArrayView<double> partials)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2)
            value += Warp.ShuffleDown(value, offset);
        if (Warp.IsFirstLane) partials[Warp.WarpIdx] = value;
        Group.Barrier();
        double total = partials[0];
        for (int w = 1; w < Group.DimX / Warp.WarpSize; w++) total += partials[w];
        Group.Barrier();
        return total;
    }

    /// <summary>Combines per-thread online-softmax states (max, Σ e^(z − max)) into the group's: M = max of the maxes,
    /// S = Σ sum·e^(max − M) (a state with sum 0 holds no elements and adds nothing).</summary>
    public static void MaxAndSum(ref float max, ref float sum, ArrayView<float> maxes, ArrayView<float> sums)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2)
        {
            float otherMax = Warp.ShuffleDown(max, offset);
            float otherSum = Warp.ShuffleDown(sum, offset);
            Combine(ref max, ref sum, otherMax, otherSum);
        }
        if (Warp.IsFirstLane)
        {
            maxes[Warp.WarpIdx] = max;
            sums[Warp.WarpIdx] = sum;
        }
        Group.Barrier();
        max = maxes[0];
        sum = sums[0];
        for (int w = 1; w < Group.DimX / Warp.WarpSize; w++) Combine(ref max, ref sum, maxes[w], sums[w]);
        Group.Barrier();
    }

    /// <summary>Host side: the threads of a group that covers <paramref name="elements"/> with about <paramref name="elementsPerThread"/> each,
    /// in whole warps, at least one warp and at most <paramref name="maxThreads"/> (and what the accelerator allows).</summary>
    public static int GroupSize(Accelerator accelerator, long elements, int elementsPerThread, int maxThreads)
    {
        int warp = accelerator.WarpSize;
        int limit = Math.Min(maxThreads, accelerator.MaxNumThreadsPerGroup) / warp * warp;
        long warps = (elements + (long)warp * elementsPerThread - 1) / ((long)warp * elementsPerThread);
        return (int)Math.Clamp(warps * warp, warp, limit);
    }

    static void Combine(ref float max, ref float sum, float otherMax, float otherSum)
    {
        float m = MathF.Max(max, otherMax);
        float own = sum == 0f ? 0f : sum * MathF.Exp(max - m);
        float other = otherSum == 0f ? 0f : otherSum * MathF.Exp(otherMax - m);
        max = m;
        sum = own + other;
    }
}
