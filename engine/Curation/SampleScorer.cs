using Engine.Generation;

namespace Engine.Curation;

/// <summary>A score of one sampled answer, whether it passes, and why (the verifier's reason, or the score against the threshold).</summary>
public readonly record struct SampleScore(double Score, bool Passed, string Reason);

/// <summary>Scores the K sampled answers of one prompt row.</summary>
public interface ISampleScorer
{
    /// <summary>What the scorer is called in reports and meta (verifier, logprob, teacher).</summary>
    string Name { get; }

    /// <summary>Throws, naming the row, when the row cannot be scored (e.g. a verifier spec that does not parse): checked before sampling.</summary>
    void Prepare(CurationRow row);

    SampleScore[] Score(CurationRow row, IReadOnlyList<GeneratedReply> samples);
}
