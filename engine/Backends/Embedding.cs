using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>Token embedding plus optional learned position embedding (GPT-2 has wpe, Llama/Qwen2 do not).</summary>
public static unsafe class CpuEmbedding
{
    /// <summary>y[r,:] = wte[ids[r],:] + wpe[positions[r],:]; y: [n, c], wte: [vocab, c], wpe: [maxPositions, c].
    /// An empty wpe means no learned positions (y[r,:] = wte[ids[r],:]) and positions is then ignored.</summary>
    public static void Forward(Span<float> y, ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, ReadOnlySpan<float> wte, ReadOnlySpan<float> wpe, int n, int c)
    {
        Arguments.RequireRows(n, c);
        Arguments.RequireLength(y.Length, (long)n * c, nameof(y), "n*c");
        RequireIndices(ids, n, TableRows(wte, c, nameof(wte)), nameof(ids), nameof(wte));
        bool hasPositions = !wpe.IsEmpty;
        if (hasPositions) RequireIndices(positions, n, TableRows(wpe, c, nameof(wpe)), nameof(positions), nameof(wpe));
        fixed (float* py = y, pWte = wte, pWpe = wpe)
        fixed (int* pIds = ids, pPositions = positions)
        {
            float* yp = py, wtep = pWte, wpep = pWpe;
            int* idsp = pIds, positionsp = pPositions;
            CpuParallel.ForEachRow(n, c, r => ForwardRow(yp, idsp, positionsp, wtep, hasPositions ? wpep : null, r, c));
        }
    }

    /// <summary>dwte[ids[r],:] += dy[r,:]; dwpe[positions[r],:] += dy[r,:]. Deterministic: every table element sums its rows in row order
    /// (column blocks in parallel, never atomics), so repeated ids give bit-identical results. Accumulates; an empty dwte or dwpe is skipped.</summary>
    public static void Backward(Span<float> dwte, Span<float> dwpe, ReadOnlySpan<float> dy, ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, int n, int c)
    {
        Arguments.RequireRows(n, c);
        Arguments.RequireLength(dy.Length, (long)n * c, nameof(dy), "n*c");
        if (!dwte.IsEmpty) RequireIndices(ids, n, TableRows(dwte, c, nameof(dwte)), nameof(ids), nameof(dwte));
        if (!dwpe.IsEmpty) RequireIndices(positions, n, TableRows(dwpe, c, nameof(dwpe)), nameof(positions), nameof(dwpe));
        if (dwte.IsEmpty && dwpe.IsEmpty) return;
        fixed (float* pdWte = dwte, pdWpe = dwpe, pdy = dy)
        fixed (int* pIds = ids, pPositions = positions)
        {
            float* dWtep = pdWte, dWpep = pdWpe, dyp = pdy;
            int* idsp = pIds, positionsp = pPositions;
            CpuParallel.ForEachColumnBlock(n, c, (j0, j1) => AccumulateColumns(dWtep, dWpep, dyp, idsp, positionsp, n, c, j0, j1));
        }
    }

    static void ForwardRow(float* y, int* ids, int* positions, float* wte, float* wpe, int r, int c)
    {
        var token = new ReadOnlySpan<float>(wte + (long)ids[r] * c, c);
        var output = new Span<float>(y + (long)r * c, c);
        if (wpe == null) token.CopyTo(output);
        else TensorPrimitives.Add(token, new ReadOnlySpan<float>(wpe + (long)positions[r] * c, c), output);
    }

    /// <summary>Columns [j0, j1) of both tables, rows in order (null dWte or dWpe = skipped).
    /// The column split only changes which thread adds an element, never the order of its additions.</summary>
    static void AccumulateColumns(float* dWte, float* dWpe, float* dy, int* ids, int* positions, int n, int c, int j0, int j1)
    {
        int width = j1 - j0;
        for (int r = 0; r < n; r++)
        {
            var source = new ReadOnlySpan<float>(dy + (long)r * c + j0, width);
            if (dWte != null)
            {
                var target = new Span<float>(dWte + (long)ids[r] * c + j0, width);
                TensorPrimitives.Add(target, source, target);
            }
            if (dWpe != null)
            {
                var target = new Span<float>(dWpe + (long)positions[r] * c + j0, width);
                TensorPrimitives.Add(target, source, target);
            }
        }
    }

    static int TableRows(ReadOnlySpan<float> table, int c, string name)
    {
        if (table.Length % c != 0) throw new ArgumentException($"{name} has {table.Length} elements, not a multiple of c = {c}", name);
        return table.Length / c;
    }

    /// <summary>Checks indices has n entries, each a row of a table with tableRows rows.</summary>
    static void RequireIndices(ReadOnlySpan<int> indices, int n, int tableRows, string name, string table)
    {
        if (indices.Length != n) throw new ArgumentException($"{name} has {indices.Length} elements, expected n = {n}", name);
        for (int r = 0; r < n; r++)
            if ((uint)indices[r] >= (uint)tableRows)
                throw new ArgumentException($"{name}[{r}] = {indices[r]} (row {r}) is outside {table}, which has {tableRows} rows", name);
    }
}

public sealed partial class CpuBackend
{
    public void EmbeddingForward(Tensor y, Tensor ids, Tensor positions, Tensor wte, Tensor? wpe, int n, int c)
        => CpuEmbedding.Forward(F(y), I(ids), I(positions), F(wte), F(wpe), n, c);

    public void EmbeddingBackward(Tensor? dwte, Tensor? dwpe, Tensor dy, Tensor ids, Tensor positions, int n, int c)
        => CpuEmbedding.Backward(F(dwte), F(dwpe), F(dy), I(ids), I(positions), n, c);
}

public sealed partial class IlgpuBackend
{
    Embedding? _embedding;
    Embedding EmbeddingLauncher => Launcher(ref _embedding, a => new Embedding(a));

    public void EmbeddingForward(Tensor y, Tensor ids, Tensor positions, Tensor wte, Tensor? wpe, int n, int c)
        => EmbeddingLauncher.Forward(F(y), I(ids), I(positions), F(wte), F(wpe), n, c);

    public void EmbeddingBackward(Tensor? dwte, Tensor? dwpe, Tensor dy, Tensor ids, Tensor positions, int n, int c)
        => EmbeddingLauncher.Backward(F(dwte), F(dwpe), F(dy), I(ids), I(positions), n, c);
}
