using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>The float64 sum of squares behind the global gradient norm, in fixed-shape partials combined in a fixed order.</summary>
public static class ReduceKernels
{
    /// <summary>Threads of a reduction group.</summary>
    public const int ReduceThreads = 256;

    /// <summary>Elements one thread squares and adds into its float64 partial.</summary>
    public const int ElementsPerThread = 32;

    /// <summary>Elements of x reduced by one group into one partial.</summary>
    public const int ElementsPerGroup = ReduceThreads * ElementsPerThread;

    // partials[k] = Σ x[i]² over i in [k·ElementsPerGroup, (k + 1)·ElementsPerGroup), in float64: thread t adds i = k·ElementsPerGroup + t + m·ReduceThreads
    // for m in order, then a group sum (fixed order). Grid ⌈length/ElementsPerGroup⌉ groups of ReduceThreads: one group per partial.
    [GroupSize(ReduceThreads)]
    public static void SumOfSquaresPartials(ArrayView<double> partials, ArrayView<float> x)
    {
        var warpSums = SharedMemory.Allocate<double>(ReduceThreads);
        long start = (long)Grid.IdxX * ElementsPerGroup + Group.IdxX;
        double sum = 0;
        for (int m = 0; m < ElementsPerThread; m++)
        {
            long i = start + (long)m * ReduceThreads;
            if (i < x.Length)
            {
                double v = x[i];
                sum += v * v;
            }
        }
        double total = GroupReduce.Sum(sum, warpSums);
        if (Group.IsFirstThread) partials[Grid.IdxX] = total;
    }

    // result[0] = Σ_k partials[k]: thread t adds k = t + m·ReduceThreads for m in order, then a group sum (fixed order).
    // Grid 1 group of ReduceThreads.
    [GroupSize(ReduceThreads)]
    public static void SumPartials(ArrayView<double> result, ArrayView<double> partials)
    {
        var warpSums = SharedMemory.Allocate<double>(ReduceThreads);
        double sum = 0;
        for (long k = Group.IdxX; k < partials.Length; k += ReduceThreads) sum += partials[k];
        double total = GroupReduce.Sum(sum, warpSums);
        if (Group.IsFirstThread) result[0] = total;
    }
}

/// <summary>Launches the reduction kernels on the accelerator's default stream (no synchronisation). Owns the scratch of the partials.</summary>
public sealed class Reduce(Accelerator accelerator) : IDisposable
{
    readonly Action<KernelConfig, ArrayView<double>, ArrayView<float>> _sumOfSquaresPartials =
        accelerator.LoadStreamKernel<ArrayView<double>, ArrayView<float>>(ReduceKernels.SumOfSquaresPartials);
    readonly Action<KernelConfig, ArrayView<double>, ArrayView<double>> _sumPartials =
        accelerator.LoadStreamKernel<ArrayView<double>, ArrayView<double>>(ReduceKernels.SumPartials);
    readonly Scratch<double> _partials = new(accelerator);

    /// <summary>result[0] = Σ x² in float64, bit-identical from run to run (the order is fixed by x's length alone); 0 for an empty x.</summary>
    public void SumOfSquares(ArrayView<double> result, ArrayView<float> x)
    {
        Arguments.RequireLength(result.Length, 1, nameof(result), "one element");
        long groups = (x.Length + ReduceKernels.ElementsPerGroup - 1) / ReduceKernels.ElementsPerGroup;
        Arguments.RequireIndexable(groups, "the partials");
        if (groups == 0)
        {
            result.MemSetToZero();
            return;
        }
        var partials = _partials.Get(groups);
        _sumOfSquaresPartials(new KernelConfig((int)groups, ReduceKernels.ReduceThreads), partials, x);
        _sumPartials(new KernelConfig(1, ReduceKernels.ReduceThreads), result, partials);
    }

    public void Dispose() => _partials.Dispose();
}
