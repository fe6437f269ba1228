using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Engine.Checks;

/// <summary>
/// Answer verifiers: does a response carry the right answer? Exact text, a number within a tolerance, a regex that must match (or whose
/// extraction must equal a value), valid JSON (optionally with required keys). Each is a <see cref="Check"/>; IFEval instructions
/// (<see cref="Instructions"/>) are checks too, so a best-of-K scorer or an eval task can mix both.
/// </summary>
public static partial class Verifiers
{
    /// <summary>The response equals expected; strip trims both first, ignoreCase compares without case.</summary>
    public static Check Exact(string expected, bool strip = true, bool ignoreCase = false)
    {
        string Normal(string s) => strip ? s.Trim() : s;
        var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return new Check("exact", r => string.Equals(Normal(r), Normal(expected), comparison)
            ? Verdict.Pass($"equals \"{Normal(expected)}\"") : Verdict.Fail($"\"{Shorten(Normal(r))}\" is not \"{Normal(expected)}\""));
    }

    // |x − expected| ≤ tolerance + relativeTolerance·|expected|, x the last number written in the response ("1,234.5", "-3", "$12", "1e-3").
    /// <summary>The last number in the response is within tolerance of expected (absolute, plus relative to |expected|).</summary>
    public static Check Numeric(double expected, double tolerance = 1e-6, double relativeTolerance = 0)
    {
        if (!(tolerance >= 0) || !(relativeTolerance >= 0)) throw new ArgumentException($"numeric: tolerances must be ≥ 0 (got {tolerance}, {relativeTolerance})");
        double allowed = tolerance + relativeTolerance * Math.Abs(expected);
        return new Check("numeric", r =>
        {
            if (LastNumber(r) is not { } x) return Verdict.Fail($"no number in \"{Shorten(r)}\"");
            string text = $"{x.ToString("R", CultureInfo.InvariantCulture)} vs {expected.ToString("R", CultureInfo.InvariantCulture)} (±{allowed.ToString("G3", CultureInfo.InvariantCulture)})";
            return Verdict.When(Math.Abs(x - expected) <= allowed, text);
        });
    }

    /// <summary>The last number written in text (thousands commas and a leading $ allowed), or null when there is none.</summary>
    public static double? LastNumber(string text)
    {
        var matches = NumberPattern().Matches(text);
        if (matches.Count == 0) return null;
        return double.Parse(matches[^1].Value.Replace(",", "").Replace("$", ""), NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    /// <summary>Without expected: the pattern must match somewhere. With expected: capture group (0 the whole match) of the first match,
    /// trimmed, must equal expected trimmed.</summary>
    public static Check Regex(string pattern, string? expected = null, int group = 0, bool ignoreCase = false)
    {
        System.Text.RegularExpressions.Regex regex;
        try { regex = new(pattern, ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None); }
        catch (ArgumentException e) { throw new ArgumentException($"regex: pattern '{pattern}' does not parse: {e.Message}", e); }
        if (group < 0 || group >= regex.GetGroupNumbers().Length) throw new ArgumentException($"regex: pattern '{pattern}' has no group {group}");
        return new Check("regex", r =>
        {
            var match = regex.Match(r);
            if (!match.Success) return Verdict.Fail($"/{pattern}/ does not match");
            if (expected is null) return Verdict.Pass($"/{pattern}/ matches");
            string found = match.Groups[group].Value.Trim();
            return found == expected.Trim() ? Verdict.Pass($"extracted \"{found}\"") : Verdict.Fail($"extracted \"{Shorten(found)}\", expected \"{expected.Trim()}\"");
        });
    }

    /// <summary>The trimmed response is JSON; with requiredKeys, an object that has each of them.</summary>
    public static Check Json(IReadOnlyList<string>? requiredKeys = null) => new("json", r =>
    {
        try
        {
            using var document = JsonDocument.Parse(r.Trim());
            if (requiredKeys is not { Count: > 0 }) return Verdict.Pass("valid JSON");
            if (document.RootElement.ValueKind != JsonValueKind.Object) return Verdict.Fail($"JSON {document.RootElement.ValueKind}, expected an object with {string.Join(", ", requiredKeys)}");
            var missing = requiredKeys.Where(k => !document.RootElement.TryGetProperty(k, out _)).ToList();
            return missing.Count == 0 ? Verdict.Pass($"JSON object with {string.Join(", ", requiredKeys)}") : Verdict.Fail($"JSON object without {string.Join(", ", missing)}");
        }
        catch (JsonException e)
        {
            return Verdict.Fail($"not JSON: {e.Message.Split(" LineNumber:")[0]}");
        }
    });

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";

    [GeneratedRegex(@"-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\$?\.\d+")] private static partial Regex NumberPattern();
}
