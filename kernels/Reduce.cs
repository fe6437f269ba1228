using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>The float64 sums that stay on the device: the global gradient norm's sum of squares and the loss, in fixed-shape partials
/// combined in a fixed order.</summary>
public static class ReduceKernels
{
    /// <summary>Threads of a reduction group.</summary>
    public const int ReduceThreads = 256;

    /// <summary>Elements one thread adds into its float64 partial.</summary>
    public const int ElementsPerThread = 32;

    /// <summary>Elements of x reduced by one group into one partial.</summary>
    public const int ElementsPerGroup = ReduceThreads * ElementsPerThread;

    // partials[k] = Σ f(x[i]) over i in [k·ElementsPerGroup, (k + 1)·ElementsPerGroup) in float64, f(x) = x² when squared ≠ 0, else x: thread t adds
    // i = k·ElementsPerGroup + t + m·ReduceThreads for m in order, then a group sum (fixed order). Grid ⌈length/ElementsPerGroup⌉ groups of ReduceThreads.
    [GroupSize(ReduceThreads)]
    public static void Partials(ArrayView<double> partials, ArrayView<float> x, int squared)
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
                sum += squared != 0 ? v * v : v;
            }
        }
        double total = GroupReduce.Sum(sum, warpSums);
        if (Group.IsFirstThread) partials[Grid.IdxX] = total;
    }

    // result[0] += Σ_k partials[k]: thread t adds k = t + m·ReduceThreads for m in order, then a group sum (fixed order), then one add.
    // Grid 1 group of ReduceThreads.
    [GroupSize(ReduceThreads)]
    public static void AddPartials(ArrayView<double> result, ArrayView<double> partials)
    {
        var warpSums = SharedMemory.Allocate<double>(ReduceThreads);
        double sum = 0;
        for (long k = Group.IdxX; k < partials.Length; k += ReduceThreads) sum += partials[k];
        double total = GroupReduce.Sum(sum, warpSums);
        if (Group.IsFirstThread) result[0] += total;
    }
}

/// <summary>Launches the reduction kernels on the accelerator's default stream (no synchronisation: the results stay on the device).
/// Owns the scratch of the partials.</summary>
public sealed class Reduce(Accelerator accelerator) : IDisposable
{
    readonly Action<KernelConfig, ArrayView<double>, ArrayView<float>, int> _partials =
        accelerator.LoadStreamKernel<ArrayView<double>, ArrayView<float>, int>(ReduceKernels.Partials);
    readonly Action<KernelConfig, ArrayView<double>, ArrayView<double>> _addPartials =
        accelerator.LoadStreamKernel<ArrayView<double>, ArrayView<double>>(ReduceKernels.AddPartials);
    readonly Scratch<double> _scratch = new(accelerator);

    /// <summary>result[0] = Σ_t Σ xs[t]², each tensor's sum in float64 in an order fixed by its length alone, added in list order: bit-identical
    /// from run to run; 0 for no elements. Two launches per non-empty tensor, and one scratch large enough for all of them.</summary>
    public void SumOfSquares(ArrayView<double> result, IReadOnlyList<ArrayView<float>> xs)
    {
        Arguments.RequireLength(result.Length, 1, nameof(result), "one element");
        long most = xs.Count == 0 ? 0 : xs.Max(x => Groups(x.Length));
        var partials = most == 0 ? ArrayView<double>.Empty : _scratch.Get(most);
        result.MemSetToZero();
        foreach (var x in xs) Add(result, x, squared: true, partials);
    }

    /// <summary>result[0] += Σ x in float64 (the order fixed by x's length alone).</summary>
    public void AddSum(ArrayView<double> result, ArrayView<float> x)
    {
        Arguments.RequireLength(result.Length, 1, nameof(result), "one element");
        long groups = Groups(x.Length);
        if (groups > 0) Add(result, x, squared: false, _scratch.Get(groups));
    }

    void Add(ArrayView<double> result, ArrayView<float> x, bool squared, ArrayView<double> partials)
    {
        long groups = Groups(x.Length);
        if (groups == 0) return;
        var used = partials.SubView(0, groups);
        _partials(new KernelConfig((int)groups, ReduceKernels.ReduceThreads), used, x, squared ? 1 : 0);
        _addPartials(new KernelConfig(1, ReduceKernels.ReduceThreads), result, used);
    }

    static long Groups(long length)
    {
        long groups = (length + ReduceKernels.ElementsPerGroup - 1) / ReduceKernels.ElementsPerGroup;
        Arguments.RequireIndexable(groups, "the partials");
        return groups;
    }

    public void Dispose() => _scratch.Dispose();
}
