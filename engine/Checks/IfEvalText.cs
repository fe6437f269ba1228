using System.Text.RegularExpressions;

namespace Engine.Checks;

/// <summary>
/// How IFEval's reference implementation (google-research instruction_following_eval, instructions_util.py) measures text: words are runs of
/// word characters (nltk's RegexpTokenizer(r"\w+")); sentences follow its rule-based splitter (abbreviations, initials, decimals, websites and
/// "..." do not end a sentence; ".", "?" and "!" do). The reference counts sentences with nltk's trained punkt model, which is not available
/// here: its rule-based splitter, from the same file, is used instead, and agrees with punkt on ordinary prose.
/// </summary>
public static partial class IfEvalText
{
    /// <summary>The number of runs of word characters (letters, digits, underscore).</summary>
    public static int CountWords(string text) => WordPattern().Count(text);

    public static int CountSentences(string text) => SplitSentences(text).Count;

    /// <summary>
    /// The sentences of text. Dots that do not end a sentence are first protected (title prefixes "Mr.", website endings ".com", decimals
    /// "3.14", a single initial "J. ", acronyms "U.S.", company suffixes "Inc."), a closing quote moves before its ".", "!" or "?", then the
    /// text is cut after every remaining ".", "?" and "!" (a run of dots counts as one end); empty pieces at the end are dropped.
    /// </summary>
    public static List<string> SplitSentences(string text)
    {
        const string Dot = "<prd>", Stop = "<stop>";
        string t = " " + text.Replace("\n", " ") + "  ";
        t = Prefixes().Replace(t, "$1" + Dot);
        t = Websites().Replace(t, Dot + "$1");
        t = Decimals().Replace(t, "$1" + Dot + "$2");
        t = MultipleDots().Replace(t, m => string.Concat(Enumerable.Repeat(Dot, m.Length)) + Stop);
        t = t.Replace("Ph.D.", "Ph" + Dot + "D" + Dot);
        t = SingleInitial().Replace(t, " $1" + Dot + " ");
        t = AcronymBeforeStarter().Replace(t, "$1" + Stop + " $2");
        t = ThreeLetterAcronym().Replace(t, "$1" + Dot + "$2" + Dot + "$3" + Dot);
        t = TwoLetterAcronym().Replace(t, "$1" + Dot + "$2" + Dot);
        t = SuffixBeforeStarter().Replace(t, " $1" + Stop + " $2");
        t = Suffix().Replace(t, " $1" + Dot);
        t = InitialAfterSpace().Replace(t, " $1" + Dot);
        t = t.Replace(".”", "”.").Replace(".\"", "\".").Replace("!\"", "\"!").Replace("?\"", "\"?");
        t = t.Replace(".", "." + Stop).Replace("?", "?" + Stop).Replace("!", "!" + Stop).Replace(Dot, ".");
        var sentences = t.Split(Stop).Select(s => s.Trim()).ToList();
        if (sentences.Count > 0 && sentences[^1].Length == 0) sentences.RemoveAt(sentences.Count - 1);
        return sentences;
    }

    /// <summary>
    /// The words of text written all in capitals (Python's str.isupper: at least one cased letter, none lower or title case). Words are
    /// runs of letters and digits joined by "-", "'" or "." ("WELL-KNOWN" and "U.S.A" are one word each), as close as a regex comes to
    /// nltk's word_tokenize, which the reference uses.
    /// </summary>
    public static int CountCapitalWords(string text) => CapitalWordPattern().Matches(text).Count(m => IsUpper(m.Value));

    /// <summary>Python's str.isupper: some cased character, and every cased character upper case.</summary>
    public static bool IsUpper(string text) => HasCased(text) && text.All(c => !char.IsLower(c) && char.GetUnicodeCategory(c) != System.Globalization.UnicodeCategory.TitlecaseLetter);

    /// <summary>Python's str.islower: some cased character, and every cased character lower case.</summary>
    public static bool IsLower(string text) => HasCased(text) && text.All(c => !char.IsUpper(c) && char.GetUnicodeCategory(c) != System.Globalization.UnicodeCategory.TitlecaseLetter);

    private static bool HasCased(string text) => text.Any(c => char.IsUpper(c) || char.IsLower(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.TitlecaseLetter);

    [GeneratedRegex(@"\w+")] private static partial Regex WordPattern();
    [GeneratedRegex(@"[\p{L}\p{N}_]+(?:[-'.][\p{L}\p{N}_]+)*")] private static partial Regex CapitalWordPattern();
    [GeneratedRegex(@"(Mr|St|Mrs|Ms|Dr)[.]")] private static partial Regex Prefixes();
    [GeneratedRegex(@"[.](com|net|org|io|gov|edu|me)")] private static partial Regex Websites();
    [GeneratedRegex(@"([0-9])[.]([0-9])")] private static partial Regex Decimals();
    [GeneratedRegex(@"\.{2,}")] private static partial Regex MultipleDots();
    [GeneratedRegex(@"\s([A-Za-z])[.] ")] private static partial Regex SingleInitial();
    private const string Starters = @"(Mr|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|He\s|She\s|It\s|They\s|Their\s|Our\s|We\s|But\s|However\s|That\s|This\s|Wherever)";
    [GeneratedRegex(@"([A-Z][.][A-Z][.](?:[A-Z][.])?) " + Starters)] private static partial Regex AcronymBeforeStarter();
    [GeneratedRegex(@"([A-Za-z])[.]([A-Za-z])[.]([A-Za-z])[.]")] private static partial Regex ThreeLetterAcronym();
    [GeneratedRegex(@"([A-Za-z])[.]([A-Za-z])[.]")] private static partial Regex TwoLetterAcronym();
    [GeneratedRegex(@" (Inc|Ltd|Jr|Sr|Co)[.] " + Starters)] private static partial Regex SuffixBeforeStarter();
    [GeneratedRegex(@" (Inc|Ltd|Jr|Sr|Co)[.]")] private static partial Regex Suffix();
    [GeneratedRegex(@" ([A-Za-z])[.]")] private static partial Regex InitialAfterSpace();
}
