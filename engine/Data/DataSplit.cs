namespace Engine.Data;

/// <summary>A seeded train/validation split: disjoint, covering every item, each part in the original order.</summary>
public static class DataSplit
{
    /// <summary>round(fraction·n) items for validation (at least 1 when fraction &gt; 0), at least one left for training.</summary>
    public static (List<T> Train, List<T> Validation) ByFraction<T>(IReadOnlyList<T> items, double fraction, int seed)
    {
        if (!(fraction >= 0 && fraction < 1)) throw new ArgumentException($"validation fraction is {fraction}, expected in [0, 1)", nameof(fraction));
        int count = (int)Math.Round(fraction * items.Count);
        if (fraction > 0) count = Math.Max(count, 1);
        return ByCount(items, Math.Min(count, Math.Max(items.Count - 1, 0)), seed);
    }

    public static (List<T> Train, List<T> Validation) ByCount<T>(IReadOnlyList<T> items, int count, int seed)
    {
        if (count < 0 || (count > 0 && count >= items.Count))
            throw new ArgumentException($"{count} validation examples out of {items.Count} leaves none to train on", nameof(count));
        int[] order = Enumerable.Range(0, items.Count).ToArray();
        new Random(seed).Shuffle(order);
        var validation = new HashSet<int>(order.Take(count));
        var train = new List<T>(items.Count - count);
        var held = new List<T>(count);
        for (int i = 0; i < items.Count; i++) (validation.Contains(i) ? held : train).Add(items[i]);
        return (train, held);
    }
}
