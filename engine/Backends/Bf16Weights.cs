using Engine.Kernels;
using Engine.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Backends;

/// <summary>
/// The bf16 copies of the weights that the bf16 matmuls read, two per weight W [outDim, inDim]: as stored (for y = x·Wᵀ) and transposed
/// [inDim, outDim] (for dx = dy·W), each rounded from the fp32 master at its first use after the master was last written. The backend
/// reports every write that can reach a weight (<see cref="Written"/>: uploads, copies, Zero, Add, Accumulate, Scale, AdamW, and a
/// release, after which the memory may hold another tensor); op outputs are activations and gradients, never weights. So in training
/// each copy is rounded once per optimizer step, by the first matmul after AdamW, and reused by every other matmul of the step.
/// </summary>
internal sealed class Bf16Weights(Accelerator accelerator, Bf16Rounding rounding) : IDisposable
{
    /// <summary>The copies of the fp32 range [Offset, Offset + Length) of one buffer, last used as OutDim rows.</summary>
    sealed class Entry(long offset, long length)
    {
        public long Offset { get; } = offset;
        public long Length { get; } = length;
        public int OutDim;
        public MemoryBuffer1D<ushort, Stride1D.Dense>? Rows, Transposed;
        public bool RowsFresh, TransposedFresh;
    }

    readonly Dictionary<object, List<Entry>> _byStorage = new(ReferenceEqualityComparer.Instance);

    /// <summary>How many copies have been rounded from their masters (each a launch over the whole weight).</summary>
    public long Roundings { get; private set; }

    /// <summary>bf16(W) [outDim, inDim], fresh.</summary>
    public ArrayView<ushort> Rows(Tensor w, int outDim, int inDim)
    {
        var entry = Find(w, outDim);
        if (!entry.RowsFresh)
        {
            entry.Rows ??= accelerator.Allocate1D<ushort>(Math.Max(1, w.Length));
            rounding.Round(View(entry.Rows, w.Length), IlgpuBackend.F(w));
            entry.RowsFresh = true;
            Roundings++;
        }
        return View(entry.Rows!, w.Length);
    }

    /// <summary>bf16(W)ᵀ [inDim, outDim], fresh.</summary>
    public ArrayView<ushort> Transposed(Tensor w, int outDim, int inDim)
    {
        var entry = Find(w, outDim);
        if (!entry.TransposedFresh)
        {
            entry.Transposed ??= accelerator.Allocate1D<ushort>(Math.Max(1, w.Length));
            rounding.RoundTransposed(View(entry.Transposed, w.Length), IlgpuBackend.F(w), outDim, inDim);
            entry.TransposedFresh = true;
            Roundings++;
        }
        return View(entry.Transposed!, w.Length);
    }

    /// <summary>The tensor's memory was (or will next be) written: every copy of a range that overlaps it is rounded again at its next use.</summary>
    public void Written(Tensor t)
    {
        if (!_byStorage.TryGetValue(t.Storage, out var entries)) return;
        foreach (var e in entries)
            if (e.Offset < t.Offset + t.Length && t.Offset < e.Offset + e.Length) e.RowsFresh = e.TransposedFresh = false;
    }

    /// <summary>Frees every copy; the work queued before must have finished (the backend waits first).</summary>
    public void Dispose()
    {
        foreach (var e in _byStorage.Values.SelectMany(entries => entries))
        {
            e.Rows?.Dispose();
            e.Transposed?.Dispose();
        }
        _byStorage.Clear();
    }

    /// <summary>The entry of w's range, made on first use; the same memory read as another number of rows is transposed again.</summary>
    Entry Find(Tensor w, int outDim)
    {
        if (!_byStorage.TryGetValue(w.Storage, out var entries)) _byStorage[w.Storage] = entries = [];
        var entry = entries.Find(e => e.Offset == w.Offset && e.Length == w.Length);
        if (entry is null) entries.Add(entry = new Entry(w.Offset, w.Length) { OutDim = outDim });
        if (entry.OutDim != outDim)
        {
            entry.OutDim = outDim;
            entry.TransposedFresh = false;
        }
        return entry;
    }

    static ArrayView<ushort> View(MemoryBuffer1D<ushort, Stride1D.Dense> buffer, long length) => buffer.AsContiguous().SubView(0, length);
}
