using Engine.Training;

namespace Engine.Data;

/// <summary>What preparing a dataset did: truncation and dropping are counted here, never silent.</summary>
/// <param name="Examples">Sequences kept.</param>
/// <param name="Truncated">Examples longer than the maximum length, cut to it.</param>
/// <param name="TokensCut">Tokens removed by truncation.</param>
/// <param name="DroppedWithoutTargets">Examples left with no target token (e.g. truncation cut every assistant token), not kept.</param>
/// <param name="Tokens">Tokens in the kept sequences.</param>
/// <param name="TargetTokens">Tokens with a loss among them.</param>
public sealed record DatasetStats(int Examples, int Truncated, long TokensCut, int DroppedWithoutTargets, long Tokens, long TargetTokens);

public enum PackingMode
{
    /// <summary>Several sequences per row (best-fit decreasing), each in its own segment with positions from 0.</summary>
    Packed,
    /// <summary>One sequence per row, padded to the row length.</summary>
    Unpacked,
}

/// <summary>
/// Tokenized examples as training sequences of at most <see cref="MaxLen"/> tokens, served as <see cref="Batch"/>es of
/// rows × MaxLen, in an order shuffled per epoch from a seed (the same seed and epoch give the same batches).
/// </summary>
public sealed class SftDataset
{
    private List<List<int>>? _bins;

    public SftDataset(IEnumerable<TokenizedExample> examples, int maxLen)
    {
        if (maxLen < 2) throw new ArgumentException($"maxLen is {maxLen}, expected at least 2", nameof(maxLen));
        MaxLen = maxLen;
        var sequences = new List<TrainingSequence>();
        int truncated = 0, dropped = 0;
        long cut = 0;
        foreach (var example in examples)
        {
            var kept = example;
            if (example.Length > maxLen)
            {
                truncated++;
                cut += example.Length - maxLen;
                kept = new TokenizedExample(example.Ids[..maxLen], example.Mask[..maxLen]);
            }
            var sequence = TrainingSequence.FromTokenized(kept);
            if (sequence.TargetCount == 0) { dropped++; continue; }
            sequences.Add(sequence);
        }
        Sequences = sequences;
        Stats = new DatasetStats(sequences.Count, truncated, cut, dropped, sequences.Sum(s => (long)s.Length), sequences.Sum(s => (long)s.TargetCount));
    }

    /// <summary>Renders each example with the template, then prepares it as above.</summary>
    public static SftDataset FromExamples(IEnumerable<SftExample> examples, ChatTemplate template, int maxLen, bool trainOnAll = false)
        => new(examples.Select(e => template.Render(e, trainOnAll)), maxLen);

    public int MaxLen { get; }

    public IReadOnlyList<TrainingSequence> Sequences { get; }

    public DatasetStats Stats { get; }

    /// <summary>Rows in one epoch: the number of packed bins, or of sequences.</summary>
    public int RowCount(PackingMode mode) => mode == PackingMode.Packed ? Bins.Count : Sequences.Count;

    /// <summary>
    /// One epoch's batches of <paramref name="rowsPerBatch"/> rows (the last may have fewer). Packed mode shuffles the packed
    /// rows, unpacked mode the sequences, with a generator seeded from (seed, epoch).
    /// </summary>
    public IEnumerable<Batch> Epoch(int epoch, int rowsPerBatch, int seed, PackingMode mode = PackingMode.Packed, int padId = 0)
    {
        if (rowsPerBatch <= 0) throw new ArgumentException($"rowsPerBatch is {rowsPerBatch}, expected > 0", nameof(rowsPerBatch));
        if (Sequences.Count == 0) throw new InvalidOperationException("the dataset has no sequences with a target token");
        return Batches(epoch, rowsPerBatch, seed, mode, padId);
    }

    private IEnumerable<Batch> Batches(int epoch, int rowsPerBatch, int seed, PackingMode mode, int padId)
    {
        List<List<int>> rows = mode == PackingMode.Packed ? Bins : Enumerable.Range(0, Sequences.Count).Select(i => new List<int> { i }).ToList();
        int[] order = Enumerable.Range(0, rows.Count).ToArray();
        new Random(unchecked(seed * 1_000_003 + epoch)).Shuffle(order);
        for (int start = 0; start < order.Length; start += rowsPerBatch)
        {
            var batchRows = order.Skip(start).Take(rowsPerBatch)
                .Select(r => (IReadOnlyList<TrainingSequence>)rows[r].Select(i => Sequences[i]).ToList())
                .ToList();
            yield return Packing.BuildBatch(batchRows, MaxLen, padId);
        }
    }

    private List<List<int>> Bins => _bins ??= Packing.BestFitDecreasing(Sequences.Select(s => s.Length).ToList(), MaxLen);
}
