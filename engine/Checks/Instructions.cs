using System.Collections.Frozen;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Engine.Checks;

/// <summary>
/// IFEval's verifiable instructions (Zhou et al. 2023), by their ids in Google's data ("punctuation:no_comma", ...), each built from its
/// kwargs into a <see cref="Check"/> of one response. Each check follows instructions.py of google-research's instruction_following_eval;
/// where it cannot (a language detector, nltk's tokenizers), the difference is stated on the entry. Keywords, forbidden words, end phrases,
/// postscript markers and section splitters are matched as literal text (the reference puts them into regexes unescaped; its data holds
/// plain words, where both agree). An empty response (after trimming) follows no instruction: <see cref="IfEval"/> applies that rule.
/// </summary>
public static partial class Instructions
{
    private sealed record Entry(string[] Keys, Func<InstructionArgs, Func<string, Verdict>> Build);

    private static readonly FrozenDictionary<string, Entry> Registry = new Dictionary<string, Entry>
    {
        ["keywords:existence"] = new(["keywords"], a => KeywordsExist(a.Strings("keywords"))),
        ["keywords:frequency"] = new(["keyword", "frequency", "relation"], a => KeywordFrequency(a.String("keyword").Trim(), a.Int("frequency"), a.Relation("relation"))),
        ["keywords:forbidden_words"] = new(["forbidden_words"], a => ForbiddenWords(a.Strings("forbidden_words"))),
        ["keywords:letter_frequency"] = new(["letter", "let_frequency", "let_relation"], a => LetterFrequency(Letter(a), a.Int("let_frequency"), a.Relation("let_relation"))),
        ["length_constraints:number_words"] = new(["num_words", "relation"], a => Counted("words", IfEvalText.CountWords, a.Int("num_words"), a.Relation("relation"))),
        // The reference counts sentences with nltk's punkt; IfEvalText's rule-based splitter (from the same reference) stands in.
        ["length_constraints:number_sentences"] = new(["num_sentences", "relation"], a => Counted("sentences", IfEvalText.CountSentences, a.Int("num_sentences"), a.Relation("relation"))),
        ["length_constraints:number_paragraphs"] = new(["num_paragraphs"], a => Paragraphs(a.Int("num_paragraphs"))),
        ["length_constraints:nth_paragraph_first_word"] = new(["num_paragraphs", "nth_paragraph", "first_word"], a => NthParagraphFirstWord(a.Int("num_paragraphs"), a.Int("nth_paragraph"), a.String("first_word").ToLowerInvariant())),
        ["detectable_content:number_placeholders"] = new(["num_placeholders"], a => Placeholders(a.Int("num_placeholders"))),
        ["detectable_content:postscript"] = new(["postscript_marker"], a => Postscript(a.String("postscript_marker").Trim())),
        ["detectable_format:number_bullet_lists"] = new(["num_bullets"], a => Bullets(a.Int("num_bullets"))),
        ["detectable_format:number_highlighted_sections"] = new(["num_highlights"], a => Highlights(a.Int("num_highlights"))),
        ["detectable_format:multiple_sections"] = new(["section_spliter", "num_sections"], a => Sections(a.String("section_spliter").Trim(), a.Int("num_sections"))),
        ["detectable_format:json_format"] = new([], _ => JsonFormat),
        ["detectable_format:title"] = new([], _ => Title),
        ["detectable_format:constrained_response"] = new([], _ => ConstrainedResponse),
        ["combination:two_responses"] = new([], _ => TwoResponses),
        ["combination:repeat_prompt"] = new(["prompt_to_repeat"], a => RepeatPrompt(a.String("prompt_to_repeat"))),
        ["startend:end_checker"] = new(["end_phrase"], a => EndsWith(a.String("end_phrase").Trim())),
        ["startend:quotation"] = new([], _ => Quotation),
        // The reference also asks langdetect that the text is English (and counts a detection failure as followed): only the case is checked here.
        ["change_case:english_capital"] = new([], _ => r => IfEvalText.IsUpper(r) ? Verdict.Pass("all capitals") : Verdict.Fail("not all capitals")),
        ["change_case:english_lowercase"] = new([], _ => r => IfEvalText.IsLower(r) ? Verdict.Pass("all lower case") : Verdict.Fail("not all lower case")),
        ["change_case:capital_word_frequency"] = new(["capital_frequency", "capital_relation"], a => Counted("words in capitals", IfEvalText.CountCapitalWords, a.Int("capital_frequency"), a.Relation("capital_relation"))),
        ["punctuation:no_comma"] = new([], _ => r => r.Contains(',') ? Verdict.Fail($"{r.Count(c => c == ',')} commas") : Verdict.Pass("no commas")),
    }.ToFrozenDictionary();

    /// <summary>Every instruction id that <see cref="Create"/> knows, sorted.</summary>
    public static IReadOnlyList<string> Ids { get; } = Registry.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// The check of one instruction with its kwargs (a JSON object; null or undefined when it takes none). Throws an
    /// <see cref="ArgumentException"/> naming the id for an unknown id, a missing or unknown kwarg, or a kwarg of the wrong type.
    /// </summary>
    public static Check Create(string id, JsonElement kwargs)
    {
        if (!Registry.TryGetValue(id, out var entry))
        {
            string hint = id == "language:response_language" ? " (it needs a language detector, which the engine does not have)" : "";
            throw new ArgumentException($"unknown instruction id '{id}'{hint}; known: {string.Join(", ", Ids)}");
        }
        return new Check(id, entry.Build(new InstructionArgs(id, kwargs, entry.Keys)));
    }

    /// <summary>The check of one instruction with kwargs written as JSON text ("{}" or "" for none).</summary>
    public static Check Create(string id, string kwargsJson = "")
    {
        if (string.IsNullOrWhiteSpace(kwargsJson)) return Create(id, default(JsonElement));
        using var document = JsonDocument.Parse(kwargsJson);
        return Create(id, document.RootElement.Clone());
    }

    private static string Letter(InstructionArgs a)
    {
        string letter = a.String("letter").Trim();
        return letter.Length == 1 && char.IsLetter(letter[0]) ? letter.ToLowerInvariant() : throw new ArgumentException($"keywords:letter_frequency: kwarg 'letter' is \"{letter}\", expected one letter");
    }

    private static Func<string, Verdict> Counted(string what, Func<string, int> count, int threshold, Relation relation) => r =>
    {
        int n = count(r);
        return Verdict.When(relation.Holds(n, threshold), $"{n} {what}, expected {relation.Describe()} {threshold}");
    };

    // Each keyword occurs somewhere, ignoring case.
    private static Func<string, Verdict> KeywordsExist(string[] keywords) => r =>
        keywords.FirstOrDefault(k => !r.Contains(k, StringComparison.OrdinalIgnoreCase)) is { } missing
            ? Verdict.Fail($"'{missing}' is missing") : Verdict.Pass($"has {string.Join(", ", keywords)}");

    // Non-overlapping occurrences of the keyword, ignoring case, compared with the frequency.
    private static Func<string, Verdict> KeywordFrequency(string keyword, int frequency, Relation relation) => r =>
    {
        int n = Regex.Count(r, Regex.Escape(keyword), RegexOptions.IgnoreCase);
        return Verdict.When(relation.Holds(n, frequency), $"'{keyword}' {n} times, expected {relation.Describe()} {frequency}");
    };

    // None of the words occurs as a whole word (\bword\b), ignoring case.
    private static Func<string, Verdict> ForbiddenWords(string[] words) => r =>
        words.FirstOrDefault(w => Regex.IsMatch(r, $@"\b{Regex.Escape(w)}\b", RegexOptions.IgnoreCase)) is { } used
            ? Verdict.Fail($"uses '{used}'") : Verdict.Pass("no forbidden word");

    // Occurrences of the letter in the lower-cased response.
    private static Func<string, Verdict> LetterFrequency(string letter, int frequency, Relation relation) => r =>
    {
        int n = r.ToLowerInvariant().Count(c => c == letter[0]);
        return Verdict.When(relation.Holds(n, frequency), $"'{letter}' {n} times, expected {relation.Describe()} {frequency}");
    };

    // Paragraphs are split by the markdown divider *** (with one optional blank around it); an empty first or last piece is not a paragraph,
    // an empty one in between fails; the count must be exact.
    private static Func<string, Verdict> Paragraphs(int expected) => r =>
    {
        var pieces = ParagraphDivider().Split(r);
        int n = pieces.Length;
        for (int i = 0; i < pieces.Length; i++)
        {
            if (pieces[i].Trim().Length > 0) continue;
            if (i == 0 || i == pieces.Length - 1) n--;
            else return Verdict.Fail($"paragraph {i + 1} (between two ***) is empty");
        }
        return Verdict.When(n == expected, $"{n} paragraphs, expected {expected}");
    };

    // Paragraphs are split by "\n\n" and the non-blank ones counted (exactly); the nth piece, trimmed, must start with the word (lower-cased,
    // leading quotes dropped, cut at the first . , ? ! ' ").
    private static Func<string, Verdict> NthParagraphFirstWord(int expected, int nth, string firstWord) => r =>
    {
        var pieces = r.Split("\n\n");
        int n = pieces.Count(p => p.Trim().Length > 0);
        if (nth > n || nth < 1) return Verdict.Fail($"{n} paragraphs, no paragraph {nth}");
        string paragraph = pieces[nth - 1].Trim();
        if (paragraph.Length == 0) return Verdict.Fail($"paragraph {nth} is empty");
        string word = paragraph.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0].TrimStart('\'').TrimStart('"');
        int cut = word.IndexOfAny(['.', ',', '?', '!', '\'', '"']);
        word = (cut < 0 ? word : word[..cut]).ToLowerInvariant();
        return Verdict.When(n == expected && word == firstWord, $"{n} paragraphs (expected {expected}), paragraph {nth} starts with '{word}' (expected '{firstWord}')");
    };

    // Square-bracket placeholders [like this], non-greedy, at least n.
    private static Func<string, Verdict> Placeholders(int expected) => r =>
    {
        int n = PlaceholderPattern().Count(r);
        return Verdict.When(n >= expected, $"{n} placeholders, expected at least {expected}");
    };

    // A line, lower-cased, that contains the marker: "P.S." matches p.s. / p. s., "P.P.S" matches p.p.s / p. p. s, any other marker literally.
    private static Func<string, Verdict> Postscript(string marker)
    {
        string pattern = marker switch
        {
            "P.P.S" => @"\s*p\.\s?p\.\s?s.*$",
            "P.S." => @"\s*p\.\s?s\..*$",
            _ => @"\s*" + Regex.Escape(marker.ToLowerInvariant()) + ".*$",
        };
        return r => Regex.IsMatch(r.ToLowerInvariant(), pattern, RegexOptions.Multiline) ? Verdict.Pass($"has a postscript {marker}") : Verdict.Fail($"no postscript {marker}");
    }

    // Markdown bullets: lines starting (after blanks) with "*" not followed by "*", or with "-"; the count must be exact.
    private static Func<string, Verdict> Bullets(int expected) => r =>
    {
        int n = StarBullet().Count(r) + DashBullet().Count(r);
        return Verdict.When(n == expected, $"{n} bullets, expected {expected}");
    };

    // *highlighted* spans (within a line, not blank inside) and **bold** spans each count once; at least n.
    private static Func<string, Verdict> Highlights(int expected) => r =>
    {
        int n = SingleHighlight().Matches(r).Count(m => m.Value.Trim('*').Trim().Length > 0)
              + DoubleHighlight().Matches(r).Count(m => m.Value[2..^2].Trim().Length > 0);
        return Verdict.When(n >= expected, $"{n} highlighted sections, expected at least {expected}");
    };

    // Sections begin with the splitter and a number ("Section 2"); the pieces after splitting, minus one, at least n.
    private static Func<string, Verdict> Sections(string splitter, int expected) => r =>
    {
        int n = Regex.Split(r, @"\s?" + Regex.Escape(splitter) + @"\s?\d+\s?").Length - 1;
        return Verdict.When(n >= expected, $"{n} sections marked '{splitter} N', expected at least {expected}");
    };

    // The trimmed response, without a ``` / ```json fence, parses as JSON.
    private static Verdict JsonFormat(string r)
    {
        string text = r.Trim();
        foreach (string fence in (string[])["```json", "```Json", "```JSON", "```"])
            if (text.StartsWith(fence, StringComparison.Ordinal)) { text = text[fence.Length..]; break; }
        if (text.EndsWith("```", StringComparison.Ordinal)) text = text[..^3];
        return Verifiers.Json().Evaluate(text);
    }

    // A title in double angle brackets <<like this>> on one line, not blank inside.
    private static Verdict Title(string r) =>
        TitlePattern().Matches(r).Any(m => m.Value.TrimStart('<').TrimEnd('>').Trim().Length > 0) ? Verdict.Pass("has a <<title>>") : Verdict.Fail("no <<title>>");

    private static readonly string[] ConstrainedOptions = ["My answer is yes.", "My answer is no.", "My answer is maybe."];

    private static Verdict ConstrainedResponse(string r) =>
        ConstrainedOptions.Any(r.Trim().Contains) ? Verdict.Pass("one of the options") : Verdict.Fail("none of: " + string.Join(" / ", ConstrainedOptions));

    // Two different non-blank responses separated by ******; a blank piece between separators fails.
    private static Verdict TwoResponses(string r)
    {
        var pieces = r.Split("******");
        var valid = new List<string>();
        for (int i = 0; i < pieces.Length; i++)
        {
            if (pieces[i].Trim().Length > 0) valid.Add(pieces[i].Trim());
            else if (i != 0 && i != pieces.Length - 1) return Verdict.Fail($"response {i + 1} between ****** is empty");
        }
        return Verdict.When(valid.Count == 2 && valid[0] != valid[1], $"{valid.Count} responses{(valid.Count == 2 && valid[0] == valid[1] ? ", the same" : "")}, expected 2 different");
    }

    // The trimmed response starts with the trimmed prompt, ignoring case.
    private static Func<string, Verdict> RepeatPrompt(string prompt) => r =>
        r.Trim().ToLowerInvariant().StartsWith(prompt.Trim().ToLowerInvariant(), StringComparison.Ordinal)
            ? Verdict.Pass("starts with the request repeated") : Verdict.Fail("does not start with the request repeated");

    // The trimmed response, without surrounding double quotes, ends with the phrase, ignoring case.
    private static Func<string, Verdict> EndsWith(string phrase) => r =>
        r.Trim().Trim('"').ToLowerInvariant().EndsWith(phrase.ToLowerInvariant(), StringComparison.Ordinal)
            ? Verdict.Pass($"ends with \"{phrase}\"") : Verdict.Fail($"does not end with \"{phrase}\"");

    private static Verdict Quotation(string r)
    {
        string t = r.Trim();
        return t.Length > 1 && t[0] == '"' && t[^1] == '"' ? Verdict.Pass("wrapped in double quotes") : Verdict.Fail("not wrapped in double quotes");
    }

    [GeneratedRegex(@"\s?\*\*\*\s?")] private static partial Regex ParagraphDivider();
    [GeneratedRegex(@"\[.*?\]")] private static partial Regex PlaceholderPattern();
    [GeneratedRegex(@"^\s*\*[^\*].*$", RegexOptions.Multiline)] private static partial Regex StarBullet();
    [GeneratedRegex(@"^\s*-.*$", RegexOptions.Multiline)] private static partial Regex DashBullet();
    [GeneratedRegex(@"\*[^\n\*]*\*")] private static partial Regex SingleHighlight();
    [GeneratedRegex(@"\*\*[^\n\*]*\*\*")] private static partial Regex DoubleHighlight();
    [GeneratedRegex(@"<<[^\n]+>>")] private static partial Regex TitlePattern();
}
