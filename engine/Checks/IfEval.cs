namespace Engine.Checks;

/// <summary>One IFEval prompt's instructions as checks, with the ids they came from.</summary>
public sealed record IfEvalItem(string Key, string Prompt, IReadOnlyList<Check> Instructions);

/// <summary>Whether a response followed each instruction of its prompt, strictly and loosely, with the strict verdicts' reasons.</summary>
public sealed record IfEvalOutcome(IReadOnlyList<string> Ids, bool[] Strict, bool[] Loose, Verdict[] StrictVerdicts)
{
    public bool PromptStrict => Strict.All(x => x);

    public bool PromptLoose => Loose.All(x => x);
}

/// <summary>Accuracy of one view (strict or loose): every instruction followed per prompt, followed instructions, and per instruction id.</summary>
public sealed record IfEvalAccuracy(double PromptLevel, double InstructionLevel, IReadOnlyDictionary<string, double> PerInstruction);

/// <summary>
/// IFEval's scoring (evaluation_lib.py of google-research instruction_following_eval). Strict: an instruction is followed when the response,
/// trimmed, is not empty and its check passes. Loose: when the check passes on any non-empty of eight variants of the response: itself,
/// without its first line, without its last line, without both, and each of those four with every "*" removed (markdown a model added around
/// an answer that was otherwise right). Prompt-level accuracy counts prompts whose instructions were all followed; instruction-level
/// accuracy counts instructions over all prompts.
/// </summary>
public static class IfEval
{
    /// <summary>The eight loose variants in the reference's order: r, r without "*", then without first / last / both lines, then those three without "*".</summary>
    public static string[] LooseVariants(string response)
    {
        var lines = response.Split('\n');
        string withoutFirst = string.Join('\n', lines.Skip(1)).Trim();
        string withoutLast = string.Join('\n', lines.Take(lines.Length - 1)).Trim();
        string withoutBoth = string.Join('\n', lines.Skip(1).Take(lines.Length - 2)).Trim();
        static string NoStars(string s) => s.Replace("*", "");
        return [response, NoStars(response), withoutFirst, withoutLast, withoutBoth, NoStars(withoutFirst), NoStars(withoutLast), NoStars(withoutBoth)];
    }

    /// <summary>Each instruction's strict and loose result on one response.</summary>
    public static IfEvalOutcome Evaluate(IReadOnlyList<Check> instructions, string response)
    {
        var variants = LooseVariants(response);
        var strictVerdicts = instructions.Select(c => response.Trim().Length == 0 ? Verdict.Fail("empty response") : c.Evaluate(response)).ToArray();
        var loose = instructions.Select(c => variants.Any(v => v.Trim().Length > 0 && c.Evaluate(v).Passed)).ToArray();
        return new IfEvalOutcome(instructions.Select(c => c.Name).ToArray(), strictVerdicts.Select(v => v.Passed).ToArray(), loose, strictVerdicts);
    }

    /// <summary>Prompt-level, instruction-level and per-id accuracy of outcomes, strict or loose.</summary>
    public static IfEvalAccuracy Accuracy(IReadOnlyList<IfEvalOutcome> outcomes, bool loose)
    {
        if (outcomes.Count == 0) throw new ArgumentException("no outcomes to score");
        bool[] Followed(IfEvalOutcome o) => loose ? o.Loose : o.Strict;
        int prompts = outcomes.Count(o => Followed(o).All(x => x));
        int instructions = outcomes.Sum(o => o.Ids.Count), followed = outcomes.Sum(o => Followed(o).Count(x => x));
        var perId = outcomes.SelectMany(o => o.Ids.Zip(Followed(o)))
            .GroupBy(pair => pair.First, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (double)g.Count(p => p.Second) / g.Count(), StringComparer.Ordinal);
        return new IfEvalAccuracy((double)prompts / outcomes.Count, instructions == 0 ? double.NaN : (double)followed / instructions, perId);
    }
}
