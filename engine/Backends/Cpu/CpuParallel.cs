namespace Engine.Backends.Cpu;

/// <summary>How the CPU ops split work over threads: into pieces fixed by the sizes alone (never per-thread partial sums),
/// each piece computed by the same float ops on whichever thread runs it, so results never depend on scheduling.</summary>
internal static class CpuParallel
{
    /// <summary>Work of at most this many elements runs on the calling thread.</summary>
    public const long Threshold = 1 << 16;

    /// <summary>Elements per piece of a flat elementwise op: a multiple of every vector width, so each element takes
    /// the same vector or scalar path however the span is split.</summary>
    public const int ChunkElements = 1 << 14;

    /// <summary>Roughly how many elements a block of whole rows holds when rows are run in parallel.</summary>
    const int RowBlockElements = 1 << 14;

    /// <summary>Runs row(r) for r in [0, n) (rows of c elements): in parallel over blocks of whole rows when n·c exceeds <see cref="Threshold"/>.</summary>
    public static void ForEachRow(int n, int c, Action<int> row)
    {
        if ((long)n * c <= Threshold)
        {
            for (int r = 0; r < n; r++) row(r);
            return;
        }
        int rowsPerBlock = Math.Max(1, RowBlockElements / c);
        Parallel.For(0, (n + rowsPerBlock - 1) / rowsPerBlock, k =>
        {
            int end = Math.Min(n, (k + 1) * rowsPerBlock);
            for (int r = k * rowsPerBlock; r < end; r++) row(r);
        });
    }

    /// <summary>Runs range(start, count) over [0, length) in pieces of <see cref="ChunkElements"/>: in parallel when length exceeds <see cref="Threshold"/>, else in one call.</summary>
    public static void ForEachChunk(int length, Action<int, int> range)
    {
        if (length <= Threshold)
        {
            range(0, length);
            return;
        }
        Parallel.For(0, ChunkCount(length), k =>
        {
            int start = k * ChunkElements;
            range(start, Math.Min(ChunkElements, length - start));
        });
    }

    /// <summary>How many pieces <see cref="ForEachChunk"/> makes of a span of this length when it runs in parallel.</summary>
    public static int ChunkCount(int length) => length <= Threshold ? 1 : (length + ChunkElements - 1) / ChunkElements;

    /// <summary>Runs block(j0, j1) over column blocks [j0, j1) of [0, c) for a reduction over rows (rows in order inside each block):
    /// about one block per core when n·c exceeds <see cref="Threshold"/>, else one block. The split changes which thread owns a column,
    /// never the float ops applied to it.</summary>
    public static void ForEachColumnBlock(int n, int c, Action<int, int> block)
    {
        if ((long)n * c <= Threshold)
        {
            block(0, c);
            return;
        }
        int width = Math.Max(64, (c / Environment.ProcessorCount + 15) & ~15);
        Parallel.For(0, (c + width - 1) / width, k => block(k * width, Math.Min(c, (k + 1) * width)));
    }
}
