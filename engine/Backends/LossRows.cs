namespace Engine.Backends;

/// <summary>The rows of a batch that take a loss (target ≥ 0) and their targets, as <see cref="IBackend.CrossEntropyForwardBackward"/> wants them.</summary>
public static class LossRows
{
    /// <summary>Rows = the ascending indices r with targets[r] ≥ 0; Targets = targets[Rows[i]].</summary>
    public static (int[] Rows, int[] Targets) Keep(ReadOnlySpan<int> targets)
    {
        var rows = new List<int>();
        for (int r = 0; r < targets.Length; r++)
            if (targets[r] >= 0) rows.Add(r);
        int[] kept = rows.ToArray();
        int[] keptTargets = new int[kept.Length];
        for (int i = 0; i < kept.Length; i++) keptTargets[i] = targets[kept[i]];
        return (kept, keptTargets);
    }
}
