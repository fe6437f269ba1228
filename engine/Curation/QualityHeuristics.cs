using System.Runtime.CompilerServices;

namespace Engine.Curation;

/// <summary>
/// Thresholds of the response quality heuristics (Gopher's repetition rules, Rae et al. 2021, as datatrove's GopherRepetitionFilter
/// applies them, plus checks for SFT answers). A rule with a threshold of 0 (or a fraction of 1) is off.
/// </summary>
/// <param name="MinWords">Fewest words a response may have.</param>
/// <param name="MaxWords">Most words a response may have.</param>
/// <param name="UnterminatedWords">A response of at least this many words that does not end in terminal punctuation (. ! ? … or a
/// closing quote or bracket) was cut off: truncated. 0: off.</param>
/// <param name="DuplicateLineFraction">Most lines that repeat an earlier line, as a fraction of the lines.</param>
/// <param name="TopBigramFraction">Most characters the most frequent repeated word 2-gram may cover, as a fraction of all word characters.</param>
/// <param name="DuplicateFiveGramFraction">Most word characters inside 5-grams that occur more than once.</param>
public sealed record QualityOptions(int MinWords = 1, int MaxWords = 2000, int UnterminatedWords = 3, double DuplicateLineFraction = 0.3,
    double TopBigramFraction = 0.2, double DuplicateFiveGramFraction = 0.15, bool RejectPromptRepeat = true)
{
    public void Validate()
    {
        if (MinWords < 0 || MaxWords < MinWords) throw new ArgumentException($"response length bounds {MinWords}..{MaxWords} words are not a range");
        if (UnterminatedWords < 0) throw new ArgumentException($"--unterminated-words is {UnterminatedWords}, expected ≥ 0 (0: off)");
        foreach (var (name, f) in new[] { ("--max-dup-line-frac", DuplicateLineFraction), ("--max-top-2gram-frac", TopBigramFraction), ("--max-dup-5gram-frac", DuplicateFiveGramFraction) })
            if (!(f >= 0 && f <= 1)) throw new ArgumentException($"{name} is {f}, expected a fraction in [0, 1]");
    }
}

/// <summary>The quality rules on one response; each returns why the response fails, or null when it passes.</summary>
public static class QualityHeuristics
{
    /// <summary>The first rule the response fails (in the order of the checks below), or null.</summary>
    /// <param name="stoppedAtLimit">The row's generation stopped at its token limit (a distilled row's meta says so).</param>
    public static string? Reject(string prompt, string response, bool stoppedAtLimit, QualityOptions options)
        => Reject(TextFeatures.Words(prompt), response, TextFeatures.Words(response), stoppedAtLimit, options);

    /// <summary>The same, on the words of prompt and response already split.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static string? Reject(ReadOnlySpan<Word> promptWords, ReadOnlySpan<char> response, ReadOnlySpan<Word> words, bool stoppedAtLimit, QualityOptions options)
    {
        if (response.IsWhiteSpace()) return "empty response";
        if (stoppedAtLimit) return "truncated: generation stopped at its token limit";
        if (words.Length < options.MinWords) return $"too short: {words.Length} words, expected at least {options.MinWords}";
        if (words.Length > options.MaxWords) return $"too long: {words.Length} words, expected at most {options.MaxWords}";
        if (options.UnterminatedWords > 0 && words.Length >= options.UnterminatedWords && !EndsTerminated(response))
            return $"truncated: {words.Length} words ending without terminal punctuation";
        if (DuplicateLineFraction(response) is var lines && lines > options.DuplicateLineFraction)
            return $"repetitive: {lines:P0} of lines repeat an earlier line (max {options.DuplicateLineFraction:P0})";
        if (TopBigramFraction(words) is var top && top > options.TopBigramFraction)
            return $"repetitive: the most frequent 2-gram covers {top:P0} of the characters (max {options.TopBigramFraction:P0})";
        if (DuplicateNGramFraction(words, 5) is var dup && dup > options.DuplicateFiveGramFraction)
            return $"repetitive: {dup:P0} of the characters are in repeated 5-grams (max {options.DuplicateFiveGramFraction:P0})";
        if (options.RejectPromptRepeat && RepeatsPrompt(promptWords, words)) return "the response repeats the prompt";
        return null;
    }

    /// <summary>Ends in . ! ? … (possibly followed by closing quotes or brackets), or in a closing quote, bracket or code fence.</summary>
    public static bool EndsTerminated(ReadOnlySpan<char> response)
    {
        var end = response.TrimEnd();
        return end.Length > 0 && ".!?…\"'”’)]}`".Contains(end[^1]);
    }

    /// <summary>Non-blank lines equal (after trimming) to an earlier line / non-blank lines.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double DuplicateLineFraction(ReadOnlySpan<char> text)
    {
        if (!text.Contains('\n')) return 0;
        var seen = new HashSet<string>().GetAlternateLookup<ReadOnlySpan<char>>();
        int lines = 0, repeated = 0;
        foreach (var range in text.Split('\n'))
        {
            var line = text[range].Trim();
            if (line.IsEmpty) continue;
            lines++;
            if (!seen.Add(line)) repeated++;
        }
        return lines == 0 ? 0 : (double)repeated / lines;
    }

    // Gopher's top n-gram rule for n = 2: count(g*) · chars(g*) / Σ chars of words, g* the most frequent 2-gram;
    // only a 2-gram that occurs more than once counts (every 2-gram of a short answer would otherwise be "top").
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double TopBigramFraction(ReadOnlySpan<Word> words)
    {
        if (words.Length < 2) return 0;
        // Each 2-gram's hash counted in a table reused from call to call, then the largest count · chars of one that repeats.
        var counts = Counts();
        for (int i = 0; i + 1 < words.Length; i++) counts.GetOrAdd(Bigram(words, i), out _)++;
        long best = 0;
        for (int i = 0; i + 1 < words.Length; i++)
            if (counts.ValueOf(Bigram(words, i)) is var count and > 1) best = Math.Max(best, (long)count * (words[i].Length + words[i + 1].Length));
        return (double)best / TotalChars(words);
    }

    // Gopher's duplicate n-gram rule: Σ chars of the words covered by some n-gram occurring more than once / Σ chars of words
    // (each word counted once however many repeated n-grams cover it).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double DuplicateNGramFraction(ReadOnlySpan<Word> words, int n)
    {
        if (words.Length < n) return 0;
        var counts = Counts();
        for (int i = 0; i + n <= words.Length; i++) counts.GetOrAdd(TextFeatures.SequenceHash(words.Slice(i, n)), out _)++;
        // The n-grams in order: a repeated one covers its words from where the covered run so far ends.
        long chars = 0;
        for (int i = 0, coveredTo = 0; i + n <= words.Length; i++)
        {
            if (counts.ValueOf(TextFeatures.SequenceHash(words.Slice(i, n))) < 2) continue;
            for (int w = Math.Max(i, coveredTo); w < i + n; w++) chars += words[w].Length;
            coveredTo = i + n;
        }
        return (double)chars / TotalChars(words);
    }

    /// <summary>The response holds the prompt's whole word sequence (a prompt of at least two words), as an echo does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool RepeatsPrompt(ReadOnlySpan<Word> prompt, ReadOnlySpan<Word> response)
    {
        if (prompt.Length < 2 || response.Length < prompt.Length) return false;
        for (int i = 0; i + prompt.Length <= response.Length; i++)
            if (response.Slice(i, prompt.Length).SequenceEqual(prompt)) return true;
        return false;
    }

    /// <summary>The hash of the 2-gram starting at word i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Bigram(ReadOnlySpan<Word> words, int i) => TextFeatures.Mix(words[i].Hash) ^ words[i + 1].Hash;

    /// <summary>This thread's n-gram counting table, emptied.</summary>
    private static HashTable Counts()
    {
        var counts = s_counts ??= new HashTable(256);
        counts.Clear();
        return counts;
    }

    [ThreadStatic] private static HashTable? s_counts;

    private static long TotalChars(ReadOnlySpan<Word> words)
    {
        long chars = 0;
        foreach (var w in words) chars += w.Length;
        return chars;
    }
}
