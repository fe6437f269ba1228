using System.Runtime.CompilerServices;

namespace Engine.Curation;

/// <summary>
/// The LSH buckets of the rows seen so far: a row is a near duplicate when one of its band keys is already in the index, and is then
/// removed; every row offered is indexed, kept or not, so a chain of near duplicates (A ~ B ~ C) keeps only its first. Reports which
/// earlier row a duplicate collided with.
/// </summary>
/// <param name="capacity">Band keys the index is sized for (rows × bands), so it does not grow while rows are offered.</param>
public sealed class NearDuplicateIndex(int capacity = 0)
{
    private readonly HashTable _firstRowOfBand = new(capacity);

    /// <summary>The earlier row sharing a band key with these (null when none); then indexes the keys under row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int? Offer(ReadOnlySpan<ulong> bandKeys, int row)
    {
        int? earlier = null;
        foreach (ulong key in bandKeys)
        {
            ref int first = ref _firstRowOfBand.GetOrAdd(key, out bool seen);
            if (seen) earlier ??= first;
            else first = row;
        }
        return earlier;
    }
}
