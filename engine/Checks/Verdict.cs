namespace Engine.Checks;

/// <summary>The outcome of one check on one response: whether it passed, and why (e.g. "12 words, expected at least 20").</summary>
public readonly record struct Verdict(bool Passed, string Reason)
{
    public static Verdict Pass(string reason) => new(true, reason);

    public static Verdict Fail(string reason) => new(false, reason);

    /// <summary>Passed when condition holds; the reason is the same either way (it states what was measured).</summary>
    public static Verdict When(bool condition, string reason) => new(condition, reason);
}

/// <summary>
/// One verifiable property of a response: an IFEval instruction (<see cref="Instructions"/>) or an answer verifier (<see cref="Verifiers"/>).
/// Name is what the check is called in reports (an instruction id such as "punctuation:no_comma", or "exact", "numeric", ...).
/// </summary>
public sealed record Check(string Name, Func<string, Verdict> Evaluate)
{
    /// <summary>Every check of a list must pass; the verdict names the first that failed, else all that passed.</summary>
    public static Verdict All(IReadOnlyList<Check> checks, string response)
    {
        var reasons = new List<string>(checks.Count);
        foreach (var check in checks)
        {
            var verdict = check.Evaluate(response);
            if (!verdict.Passed) return Verdict.Fail($"{check.Name}: {verdict.Reason}");
            reasons.Add($"{check.Name}: {verdict.Reason}");
        }
        return Verdict.Pass(string.Join("; ", reasons));
    }
}
