using System.Text;
using System.Text.RegularExpressions;

namespace Engine.Tokenizers;

/// <summary>What becomes of the matches when a pre-tokenizer splits a piece (Hugging Face's SplitDelimiterBehavior).</summary>
public enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>
/// Cutting a piece of text at the matches of a pattern, as Hugging Face's NormalizedString.split does: the text becomes
/// alternating runs of non-match and match, <c>invert</c> swaps the two, the behavior drops or joins the matches, and empty
/// pieces vanish.
/// </summary>
public static class Splits
{
    /// <summary>The matches of a regex, in order (empty ones included, as the reference's find_iter gives them).</summary>
    public static List<(int Start, int End)> RegexMatches(Regex regex, string text)
    {
        var matches = new List<(int Start, int End)>();
        foreach (var match in regex.EnumerateMatches(text)) matches.Add((match.Index, match.Index + match.Length));
        return matches;
    }

    /// <summary>Each code point the predicate accepts, as a match of its own.</summary>
    public static List<(int Start, int End)> CharacterMatches(string text, Func<Rune, bool> predicate)
    {
        var matches = new List<(int Start, int End)>();
        for (int i = 0; i < text.Length;)
        {
            var rune = Rune.GetRuneAt(text, i);
            if (predicate(rune)) matches.Add((i, i + rune.Utf16SequenceLength));
            i += rune.Utf16SequenceLength;
        }
        return matches;
    }

    /// <returns>The pieces as [Start, End) ranges of the text, in order.</returns>
    public static IEnumerable<(int Start, int End)> Split(string text, IReadOnlyList<(int Start, int End)> matches, SplitBehavior behavior, bool invert)
    {
        var runs = new List<(int Start, int End, bool IsMatch)>(matches.Count * 2 + 1);
        int done = 0;
        foreach (var (start, end) in matches)
        {
            if (start > done) runs.Add((done, start, invert));
            runs.Add((start, end, !invert));
            done = end;
        }
        if (done < text.Length) runs.Add((done, text.Length, invert));

        var pieces = behavior switch
        {
            SplitBehavior.Removed => runs.Where(r => !r.IsMatch).Select(r => (r.Start, r.End)).ToList(),
            SplitBehavior.Isolated => runs.Select(r => (r.Start, r.End)).ToList(),
            SplitBehavior.MergedWithPrevious => Merge(runs, (previous, run) => run.IsMatch && !previous.IsMatch),
            SplitBehavior.MergedWithNext => MergedWithNext(runs),
            _ => Merge(runs, (previous, run) => run.IsMatch == previous.IsMatch),
        };
        return pieces.Where(p => p.End > p.Start);
    }

    /// <summary>Runs in order, each joined to the piece before it when <paramref name="joins"/>(previous run, run) says so.</summary>
    private static List<(int Start, int End)> Merge(List<(int Start, int End, bool IsMatch)> runs, Func<(int, int, bool IsMatch), (int, int, bool IsMatch), bool> joins)
    {
        var pieces = new List<(int Start, int End)>(runs.Count);
        (int, int, bool IsMatch) previous = (0, 0, false);
        foreach (var run in runs)
        {
            if (pieces.Count > 0 && joins(previous, run)) pieces[^1] = (pieces[^1].Start, run.End);
            else pieces.Add((run.Start, run.End));
            previous = run;
        }
        return pieces;
    }

    /// <summary>A match joins the piece after it (walking backwards, as the reference does, so a run of matches stays apart).</summary>
    private static List<(int Start, int End)> MergedWithNext(List<(int Start, int End, bool IsMatch)> runs)
    {
        var pieces = new List<(int Start, int End)>(runs.Count);
        bool previousMatch = false;
        for (int i = runs.Count - 1; i >= 0; i--)
        {
            var run = runs[i];
            if (run.IsMatch && !previousMatch && pieces.Count > 0) pieces[^1] = (run.Start, pieces[^1].End);
            else pieces.Add((run.Start, run.End));
            previousMatch = run.IsMatch;
        }
        pieces.Reverse();
        return pieces;
    }
}
