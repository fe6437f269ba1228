namespace Engine.Training;

/// <summary>
/// One micro-batch: Rows × SeqLen tokens, each array row-major [Rows, SeqLen].
/// Targets holds the next token to predict, or −1 where no loss is taken (the loss mask);
/// Positions restart at 0 and Segments change at every packed example's start, so packed examples never attend to each other.
/// </summary>
public sealed record Batch(int Rows, int SeqLen, int[] Ids, int[] Targets, int[] Positions, int[] Segments)
{
    public int Tokens => Rows * SeqLen;

    public int TargetCount => Targets.Count(t => t >= 0);

    /// <summary>Rows of one example each: positions 0..T−1, one segment per row.</summary>
    public static Batch Unpacked(int rows, int seqLen, int[] ids, int[] targets)
    {
        var positions = new int[rows * seqLen];
        var segments = new int[rows * seqLen];
        for (int i = 0; i < positions.Length; i++) positions[i] = i % seqLen;
        return new Batch(rows, seqLen, ids, targets, positions, segments);
    }

    /// <summary>Uniformly random ids and targets (seeded): the input of the step benchmarks.</summary>
    public static Batch RandomTokens(int rows, int seqLen, int vocabSize, int seed)
    {
        var rng = new Random(seed);
        int[] Draw() => Enumerable.Range(0, rows * seqLen).Select(_ => rng.Next(vocabSize)).ToArray();
        return Unpacked(rows, seqLen, Draw(), Draw());
    }

    /// <summary>Throws, naming the array, when a size or id is out of range.</summary>
    public void Validate(int vocabSize, int contextLength)
    {
        if (SeqLen > contextLength) throw new ArgumentException($"batch rows of {SeqLen} tokens exceed the model's context of {contextLength}");
        foreach (var (name, a) in new[] { ("ids", Ids), ("targets", Targets), ("positions", Positions), ("segments", Segments) })
            if (a.Length != Tokens) throw new ArgumentException($"batch {name} has {a.Length} entries, expected {Rows}×{SeqLen}");
        for (int i = 0; i < Tokens; i++)
        {
            if ((uint)Ids[i] >= (uint)vocabSize) throw new ArgumentException($"token id {Ids[i]} at position {i} is outside the vocabulary of {vocabSize}");
            if (Targets[i] >= vocabSize) throw new ArgumentException($"target {Targets[i]} at position {i} is outside the vocabulary of {vocabSize}");
            if ((uint)Positions[i] >= (uint)contextLength) throw new ArgumentException($"position {Positions[i]} at {i} is outside the context of {contextLength}");
        }
    }
}
