using System.Text.Json;
using Engine.Checks;
using Engine.Generation;

namespace Engine.Curation;

/// <summary>
/// Scores an answer by the row's own checks (<see cref="CheckSpec"/>: its <c>checks</c> list, or exact match against its <c>answer</c>):
/// 1 when every check passes, else 0, with the verdict's reason. A row whose spec does not parse stops the run before any sampling,
/// naming its file and line.
/// </summary>
public sealed class VerifierScorer : ISampleScorer
{
    private readonly Dictionary<CurationRow, IReadOnlyList<Check>> _checks = new(ReferenceEqualityComparer.Instance);

    public string Name => "verifier";

    public void Prepare(CurationRow row)
    {
        using var document = JsonDocument.Parse(row.Utf8);
        _checks[row] = CheckSpec.FromRow(document.RootElement, row.File, row.Line);
    }

    public SampleScore[] Score(CurationRow row, IReadOnlyList<GeneratedReply> samples)
    {
        if (!_checks.ContainsKey(row)) Prepare(row);
        return samples.Select(s => Check.All(_checks[row], s.Text) is var v ? new SampleScore(v.Passed ? 1 : 0, v.Passed, v.Reason) : default).ToArray();
    }
}
