using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>Token embedding plus optional learned position embedding, as CpuEmbedding.</summary>
public static class EmbeddingKernels
{
    /// <summary>Most columns handled by one group of the backward (one per thread; the launcher uses whole warps covering c, up to this).</summary>
    public const int MaxColumnTile = 128;

    // y[r,j] = wte[ids[r],j] + wpe[positions[r],j] (an empty wpe: y[r,j] = wte[ids[r],j]); y: [n, c].
    // Index i over n·c (i = r·c + j): one thread per output element.
    public static void Forward(Index1D i, ArrayView<float> y, ArrayView<int> ids, ArrayView<int> positions, ArrayView<float> wte, ArrayView<float> wpe, int c)
    {
        int r = i / c, j = i - r * c;
        float v = wte[(long)ids[r] * c + j];
        if (wpe.Length > 0) v += wpe[(long)positions[r] * c + j];
        y[i] = v;
    }

    // dtable[v,j] += dy[r,j] for every row r with indices[r] = v, rows in order (the same float ops as the CPU op, no atomics).
    // Grid n·⌈c/tile⌉ groups of tile threads (whole warps, ≤ MaxColumnTile): group (r, tile) does nothing unless r is the first row of its index (found by a
    // group-wide scan of the rows before it); then each thread owns one column of that table row and walks rows r … n−1 in order.
    [GroupSize(MaxColumnTile)]
    public static void Backward(ArrayView<float> dtable, ArrayView<float> dy, ArrayView<int> indices, int n, int c)
    {
        int width = Group.DimX, tiles = (c + width - 1) / width;
        int r = Grid.IdxX / tiles, tile = Grid.IdxX - r * tiles, t = Group.IdxX;
        int index = indices[r];
        bool seenBefore = false;
        for (int q = t; q < r; q += width) seenBefore |= indices[q] == index;
        if (Group.BarrierOr(seenBefore)) return;
        int j = tile * width + t;
        if (j >= c) return;
        long target = (long)index * c + j;
        float sum = dtable[target];
        for (int q = r; q < n; q++)
            if (indices[q] == index) sum += dy[(long)q * c + j];
        dtable[target] = sum;
    }
}

/// <summary>Launches the embedding kernels on the accelerator's default stream (no synchronisation); arguments as CpuEmbedding.
/// The indices live on the device and are not range-checked here: an index outside its table is undefined behaviour.</summary>
public sealed class Embedding(Accelerator accelerator)
{
    readonly Accelerator _accelerator = accelerator;
    readonly Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int> _forward =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int>(EmbeddingKernels.Forward);
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int> _backward =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int>(EmbeddingKernels.Backward);

    /// <summary>y[r,:] = wte[ids[r],:] + wpe[positions[r],:]; an empty wpe means no learned positions (positions ignored).</summary>
    public void Forward(ArrayView<float> y, ArrayView<int> ids, ArrayView<int> positions, ArrayView<float> wte, ArrayView<float> wpe, int n, int c)
    {
        Arguments.RequireRows(n, c);
        Arguments.RequireLength(y.Length, (long)n * c, nameof(y), "n*c");
        Arguments.RequireLength(ids.Length, n, nameof(ids), "n");
        RequireTable(wte.Length, c, nameof(wte));
        if (wpe.Length > 0)
        {
            Arguments.RequireLength(positions.Length, n, nameof(positions), "n");
            RequireTable(wpe.Length, c, nameof(wpe));
        }
        Arguments.RequireIndexable(y.Length, nameof(y));
        if (n > 0) _forward((int)y.Length, y, ids, positions, wte, wpe, c);
    }

    /// <summary>dwte[ids[r],:] += dy[r,:]; dwpe[positions[r],:] += dy[r,:], each table element summing its rows in row order.
    /// Accumulates; an empty dwte or dwpe is skipped.</summary>
    public void Backward(ArrayView<float> dwte, ArrayView<float> dwpe, ArrayView<float> dy, ArrayView<int> ids, ArrayView<int> positions, int n, int c)
    {
        Arguments.RequireRows(n, c);
        Arguments.RequireLength(dy.Length, (long)n * c, nameof(dy), "n*c");
        if (dwte.Length > 0)
        {
            Arguments.RequireLength(ids.Length, n, nameof(ids), "n");
            RequireTable(dwte.Length, c, nameof(dwte));
        }
        if (dwpe.Length > 0)
        {
            Arguments.RequireLength(positions.Length, n, nameof(positions), "n");
            RequireTable(dwpe.Length, c, nameof(dwpe));
        }
        if (n == 0) return;
        int width = GroupReduce.GroupSize(_accelerator, c, 1, EmbeddingKernels.MaxColumnTile);
        long groups = (long)n * ((c + width - 1) / width);
        Arguments.RequireIndexable(groups, "the backward's grid");
        var config = new KernelConfig((int)groups, width);
        if (dwte.Length > 0) _backward(config, dwte, dy, ids, n, c);
        if (dwpe.Length > 0) _backward(config, dwpe, dy, positions, n, c);
    }

    static void RequireTable(long length, int c, string name)
    {
        if (length % c != 0) throw new ArgumentException($"{name} has {length} elements, not a multiple of c = {c}", name);
    }
}
