namespace Engine.Curation;

/// <summary>
/// The sampling seed of one sample of one prompt, from the run's seed, the prompt's line and the sample's index alone: a sample is the
/// same whichever batch it is generated in, so a resumed run writes what an uninterrupted one would have.
/// </summary>
public static class SampleSeeds
{
    public static int Of(int seed, int line, int sample)
        => (int)(TextFeatures.Mix(TextFeatures.Mix(TextFeatures.Mix((ulong)(uint)seed) ^ (ulong)line) ^ (ulong)sample) & int.MaxValue);
}
