namespace Engine.Models;

/// <summary>
/// Every seed of LoRA dropout's masks, derived here and nowhere else. A micro-batch's seed is a function of the optimizer steps taken before
/// it and its index in the step, so a resumed run replays a step's masks exactly; each adapter's mask seed is a function of that and of its
/// place in the model, so no two adapters of a forward share a mask. The multipliers are Knuth's multiplicative-hash constants (2³²/φ and
/// a prime near it): nearby inputs give far-apart seeds.
/// </summary>
public static class DropoutSeeds
{
    /// <summary>The seed of micro-batch <paramref name="microBatch"/> of the step after <paramref name="stepsTaken"/> optimizer steps.</summary>
    public static uint MicroBatch(int stepsTaken, int microBatch) => unchecked((uint)stepsTaken * 0x9E3779B9u + (uint)microBatch);

    /// <summary>The mask seed of the adapter at <paramref name="adapterIndex"/> within a forward seeded with <paramref name="microBatchSeed"/>.</summary>
    public static uint Adapter(uint microBatchSeed, int adapterIndex) => unchecked(microBatchSeed * 2654435761u + (uint)adapterIndex);
}
