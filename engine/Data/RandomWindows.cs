using Engine.Training;

namespace Engine.Data;

/// <summary>Language-model batches from one token stream: rows are random windows, targets the next tokens (seeded, so runs repeat).</summary>
public sealed class RandomWindows(int[] tokens, int rows, int seqLen, int seed)
{
    private readonly Random _rng = new(seed);

    public Batch Next()
    {
        if (tokens.Length <= seqLen) throw new ArgumentException($"the corpus has {tokens.Length} tokens, too few for rows of {seqLen}");
        var ids = new int[rows * seqLen];
        var targets = new int[rows * seqLen];
        for (int r = 0; r < rows; r++)
        {
            int start = _rng.Next(tokens.Length - seqLen);
            Array.Copy(tokens, start, ids, r * seqLen, seqLen);
            Array.Copy(tokens, start + 1, targets, r * seqLen, seqLen);
        }
        return Batch.Unpacked(rows, seqLen, ids, targets);
    }
}
