using Engine.Training;

namespace Engine.Data;

/// <summary>
/// Packs variable-length sequences into fixed-length rows: best-fit decreasing chooses which sequences share a row,
/// and each row restarts positions at 0 for every sequence and gives it its own segment id, so packed sequences never
/// attend to each other. Any room left at a row's end is padding: targets −1, a segment of its own.
/// </summary>
public static class Packing
{
    /// <summary>
    /// Bins of item indices whose lengths sum to at most <paramref name="capacity"/>: items longest first (ties by index),
    /// each into the fullest bin it fits, a new bin when none. Deterministic.
    /// </summary>
    public static List<List<int>> BestFitDecreasing(IReadOnlyList<int> lengths, int capacity)
    {
        if (capacity <= 0) throw new ArgumentException($"capacity is {capacity}, expected > 0", nameof(capacity));
        var order = Enumerable.Range(0, lengths.Count).OrderByDescending(i => lengths[i]).ThenBy(i => i);
        var bins = new List<List<int>>();
        var free = new SortedSet<(int Room, int Bin)>();
        foreach (int item in order)
        {
            int length = lengths[item];
            if (length <= 0 || length > capacity) throw new ArgumentException($"item {item} has length {length}, expected 1..{capacity}", nameof(lengths));
            var fitting = free.GetViewBetween((length, int.MinValue), (int.MaxValue, int.MaxValue));
            if (fitting.Count == 0)
            {
                bins.Add([item]);
                if (capacity - length > 0) free.Add((capacity - length, bins.Count - 1));
                continue;
            }
            var best = fitting.Min;
            free.Remove(best);
            bins[best.Bin].Add(item);
            if (best.Room - length > 0) free.Add((best.Room - length, best.Bin));
        }
        return bins;
    }

    /// <summary>A batch with one row per entry of <paramref name="rows"/>, each row its sequences in order followed by padding.</summary>
    public static Batch BuildBatch(IReadOnlyList<IReadOnlyList<TrainingSequence>> rows, int seqLen, int padId = 0)
    {
        int count = rows.Count, total = count * seqLen;
        var ids = new int[total];
        var targets = new int[total];
        var positions = new int[total];
        var segments = new int[total];
        for (int r = 0; r < count; r++)
        {
            int at = r * seqLen, end = at + seqLen, segment = 0;
            foreach (var sequence in rows[r])
            {
                if (at + sequence.Length > end) throw new ArgumentException($"row {r} holds more than {seqLen} tokens", nameof(rows));
                sequence.Ids.CopyTo(ids, at);
                sequence.Targets.CopyTo(targets, at);
                for (int i = 0; i < sequence.Length; i++) { positions[at + i] = i; segments[at + i] = segment; }
                at += sequence.Length;
                segment++;
            }
            for (int i = 0; at < end; at++, i++) { ids[at] = padId; targets[at] = -1; positions[at] = i; segments[at] = segment; }
        }
        return new Batch(count, seqLen, ids, targets, positions, segments);
    }
}
