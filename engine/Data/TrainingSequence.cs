namespace Engine.Data;

/// <summary>
/// One example as the model sees it: input ids and, at each position, the next token to predict or −1 for no loss.
/// The mask of the predicted token decides: Targets[i] = Ids[i+1] where Mask[i+1], else −1; the last position has no target.
/// </summary>
public sealed record TrainingSequence(int[] Ids, int[] Targets)
{
    public int Length => Ids.Length;

    public int TargetCount => Targets.Count(t => t >= 0);

    public static TrainingSequence FromTokenized(TokenizedExample example)
    {
        int n = example.Length;
        if (example.Mask.Length != n) throw new ArgumentException($"the example has {n} ids but {example.Mask.Length} mask entries");
        var targets = new int[n];
        for (int i = 0; i < n; i++) targets[i] = i + 1 < n && example.Mask[i + 1] ? example.Ids[i + 1] : -1;
        return new TrainingSequence(example.Ids, targets);
    }
}
