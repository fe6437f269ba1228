using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Engine.Tokenizers;

/// <summary>
/// The Oniguruma regexes of tokenizer.json (the Rust tokenizers library matches them on code points) as .NET regexes, which
/// match UTF-16 code units: possessive quantifiers become atomic groups, and every character class (<c>\p{L}</c>,
/// <c>[^\s\p{L}]</c>, <c>\S</c>, <c>.</c>) becomes its members in the Basic Multilingual Plane, surrogates excluded, or one
/// of its members beyond it written as a surrogate pair. So <c>\p{L}</c> matches 𝐀 (U+1D400) whole, and no class can match
/// half of a pair.
/// </summary>
public static class OnigurumaPattern
{
    private const string Surrogates = @"\uD800-\uDFFF";

    /// <summary>Every general category's code points beyond the BMP, as ranges in order.</summary>
    private static readonly Lazy<(int First, int Last, UnicodeCategory Category)[]> AstralRuns = new(ComputeAstralRuns);

    /// <exception cref="ArgumentException">The pattern does not compile.</exception>
    /// <exception cref="NotSupportedException">A construct .NET cannot express here (a Unicode script, a nested class).</exception>
    public static Regex Compile(string pattern)
        => new(CodePointClasses(AtomicPossessives(pattern)), RegexOptions.Compiled | RegexOptions.CultureInvariant);

    /// <summary>
    /// The pattern with Oniguruma/PCRE possessive quantifiers (<c>x?+</c>, <c>x++</c>, <c>x*+</c>, <c>x{n,m}+</c>), which .NET lacks,
    /// rewritten as the equivalent atomic groups <c>(?&gt;x?)</c>; everything else is left as it is.
    /// </summary>
    public static string AtomicPossessives(string pattern)
    {
        var output = new StringBuilder(pattern.Length + 16);
        var atomStarts = new Stack<int>();   // output index of the '(' of each open group
        int lastAtom = -1;                   // output index where the most recent complete atom starts
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\')
            {
                int end = EscapeEnd(pattern, i);
                lastAtom = output.Length;
                output.Append(pattern, i, end - i);
                i = end - 1;
            }
            else if (c == '[')
            {
                int end = ClassEnd(pattern, i);
                lastAtom = output.Length;
                output.Append(pattern, i, end - i);
                i = end - 1;
            }
            else if (c == '(') { atomStarts.Push(output.Length); output.Append(c); lastAtom = -1; }
            else if (c == ')') { output.Append(c); lastAtom = atomStarts.Count > 0 ? atomStarts.Pop() : -1; }
            else if (c is '?' or '*' or '+' or '{')
            {
                int end = c == '{' ? QuantifierEnd(pattern, i) : i + 1;
                if (end < 0) { lastAtom = output.Length; output.Append(c); continue; }   // a literal '{'
                bool possessive = end < pattern.Length && pattern[end] == '+' && lastAtom >= 0;
                output.Append(pattern, i, end - i);
                if (possessive)
                {
                    output.Insert(lastAtom, "(?>");
                    output.Append(')');
                    end++;
                }
                else if (end < pattern.Length && pattern[end] is '?' or '+')
                {
                    output.Append(pattern[end]);   // a lazy quantifier, or a '+' with no atom before it
                    end++;
                }
                lastAtom = -1;
                i = end - 1;
            }
            else
            {
                lastAtom = c is '|' or '^' or '$' ? -1 : output.Length;
                output.Append(c);
            }
        }
        return output.ToString();
    }

    /// <summary>
    /// Each character class of the pattern (escape classes, bracketed classes and '.') rewritten to match whole code points:
    /// <c>(?:[class-[\uD800-\uDFFF]]|astral members as surrogate pairs)</c>; <c>\x{HHHH}</c> becomes the character itself.
    /// </summary>
    public static string CodePointClasses(string pattern)
    {
        var output = new StringBuilder(pattern.Length * 2);
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length && pattern[i + 1] == 'x' && i + 2 < pattern.Length && pattern[i + 2] == '{')
            {
                int close = pattern.IndexOf('}', i);
                if (close < 0) throw new ArgumentException($"regex {pattern}: \\x{{ without a closing brace");
                output.Append(Regex.Escape(char.ConvertFromUtf32(Convert.ToInt32(pattern[(i + 3)..close], 16))));
                i = close;
            }
            else if (c == '\\')
            {
                int end = EscapeEnd(pattern, i);
                string escape = pattern[i..end];
                output.Append(IsClassEscape(escape) ? CodePointClass(escape, [escape], negated: false, pattern) : escape);
                i = end - 1;
            }
            else if (c == '[')
            {
                int end = ClassEnd(pattern, i);
                output.Append(BracketClass(pattern[i..end], pattern));
                i = end - 1;
            }
            else if (c == '.') output.Append($@"(?:[^\n{Surrogates}]|[\uD800-\uDBFF][\uDC00-\uDFFF])");
            else output.Append(c);
        }
        return output.ToString();
    }

    private static bool IsClassEscape(string escape) => escape.Length >= 2 && escape[1] is 'p' or 'P' or 's' or 'S' or 'd' or 'D' or 'w' or 'W';

    /// <summary>A bracketed class: its escape classes decide its astral members (BMP literals and ranges have none).</summary>
    private static string BracketClass(string bracket, string pattern)
    {
        int start = 1;
        bool negated = bracket.Length > 1 && bracket[1] == '^';
        if (negated) start++;
        var escapes = new List<string>();
        for (int j = start; j < bracket.Length - 1; j++)
        {
            if (bracket[j] == '\\')
            {
                int end = EscapeEnd(bracket, j);
                if (IsClassEscape(bracket[j..end])) escapes.Add(bracket[j..end]);
                j = end - 1;
            }
            else if (bracket[j] == '[' && j > start) throw new NotSupportedException($"regex {pattern}: nested character classes are not supported");
            else if (bracket[j] == '&' && j + 1 < bracket.Length && bracket[j + 1] == '&') throw new NotSupportedException($"regex {pattern}: class intersection (&&) is not supported");
            else if (char.IsSurrogate(bracket[j])) throw new NotSupportedException($"regex {pattern}: a character beyond the BMP inside a class is not supported");
        }
        return CodePointClass(bracket[1..^1], escapes, negated, pattern);
    }

    /// <param name="body">The class without its brackets (for an escape, the escape itself; may start with '^').</param>
    /// <param name="escapes">The escape classes in it, whose union (complemented when negated) decides the astral members.</param>
    private static string CodePointClass(string body, IEnumerable<string> escapes, bool negated, string pattern)
    {
        var categories = new bool[(int)UnicodeCategory.OtherNotAssigned + 1];
        foreach (string escape in escapes)
        {
            var members = EscapeCategories(escape, pattern);
            for (int k = 0; k < categories.Length; k++) categories[k] |= members.Contains((UnicodeCategory)k);
        }
        if (negated) for (int k = 0; k < categories.Length; k++) categories[k] = !categories[k];
        string bmp = $"[{body}-[{Surrogates}]]";
        string astral = AstralAlternatives(categories);
        return astral.Length == 0 ? bmp : $"(?:{bmp}|{astral})";
    }

    /// <summary>The general categories an escape class matches (what it matches beyond the BMP).</summary>
    private static HashSet<UnicodeCategory> EscapeCategories(string escape, string pattern)
    {
        var all = Enum.GetValues<UnicodeCategory>();
        HashSet<UnicodeCategory> Except(IEnumerable<UnicodeCategory> s) => [.. all.Except(s)];
        UnicodeCategory[] word = [.. all.Where(c => Name(c)[0] == 'L'), UnicodeCategory.NonSpacingMark, UnicodeCategory.DecimalDigitNumber, UnicodeCategory.ConnectorPunctuation];
        return escape[1] switch
        {
            's' => [],
            'S' => [.. all],
            'd' => [UnicodeCategory.DecimalDigitNumber],
            'D' => Except([UnicodeCategory.DecimalDigitNumber]),
            'w' => [.. word],
            'W' => Except(word),
            'p' => Property(escape, pattern),
            _ => Except(Property(escape, pattern)),
        };

        HashSet<UnicodeCategory> Property(string e, string p)
        {
            string name = e.Length > 3 && e[2] == '{' ? e[3..^1] : e[2..];
            if (name.StartsWith('^')) throw new NotSupportedException($"regex {p}: \\p{{^...}} is not supported");
            var members = all.Where(c => Name(c) == name || (name.Length == 1 && Name(c)[0] == name[0])).ToHashSet();
            return members.Count > 0 ? members : throw new NotSupportedException($"regex {p}: \\p{{{name}}} is not supported (general categories such as L, Lu, N, P are)");
        }
    }

    /// <summary>The two-letter Unicode abbreviation of a category (Lu, Nd, ...).</summary>
    private static string Name(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => "Lu", UnicodeCategory.LowercaseLetter => "Ll", UnicodeCategory.TitlecaseLetter => "Lt",
        UnicodeCategory.ModifierLetter => "Lm", UnicodeCategory.OtherLetter => "Lo", UnicodeCategory.NonSpacingMark => "Mn",
        UnicodeCategory.SpacingCombiningMark => "Mc", UnicodeCategory.EnclosingMark => "Me", UnicodeCategory.DecimalDigitNumber => "Nd",
        UnicodeCategory.LetterNumber => "Nl", UnicodeCategory.OtherNumber => "No", UnicodeCategory.SpaceSeparator => "Zs",
        UnicodeCategory.LineSeparator => "Zl", UnicodeCategory.ParagraphSeparator => "Zp", UnicodeCategory.Control => "Cc",
        UnicodeCategory.Format => "Cf", UnicodeCategory.Surrogate => "Cs", UnicodeCategory.PrivateUse => "Co",
        UnicodeCategory.ConnectorPunctuation => "Pc", UnicodeCategory.DashPunctuation => "Pd", UnicodeCategory.OpenPunctuation => "Ps",
        UnicodeCategory.ClosePunctuation => "Pe", UnicodeCategory.InitialQuotePunctuation => "Pi", UnicodeCategory.FinalQuotePunctuation => "Pf",
        UnicodeCategory.OtherPunctuation => "Po", UnicodeCategory.MathSymbol => "Sm", UnicodeCategory.CurrencySymbol => "Sc",
        UnicodeCategory.ModifierSymbol => "Sk", UnicodeCategory.OtherSymbol => "So", _ => "Cn",
    };

    /// <summary>
    /// The astral code points of the chosen categories as UTF-16 alternatives: for each high surrogate its low surrogates,
    /// consecutive high surrogates with the same lows joined (<c>[\uD840-\uD868][\uDC00-\uDFFF]</c>). Empty when there are none.
    /// </summary>
    private static string AstralAlternatives(bool[] categories)
    {
        var lows = new SortedDictionary<int, List<(int First, int Last)>>();
        foreach (var (first, last, category) in AstralRuns.Value)
        {
            if (!categories[(int)category]) continue;
            for (int cp = first; cp <= last;)
            {
                int high = 0xD800 + ((cp - 0x10000) >> 10), blockEnd = Math.Min(last, 0x10000 + ((high - 0xD800 + 1) << 10) - 1);
                int lowFirst = 0xDC00 + ((cp - 0x10000) & 0x3FF), lowLast = 0xDC00 + ((blockEnd - 0x10000) & 0x3FF);
                if (!lows.TryGetValue(high, out var ranges)) lows[high] = ranges = [];
                if (ranges.Count > 0 && ranges[^1].Last + 1 == lowFirst) ranges[^1] = (ranges[^1].First, lowLast);
                else ranges.Add((lowFirst, lowLast));
                cp = blockEnd + 1;
            }
        }
        var alternatives = new List<string>();
        int? runStart = null, runEnd = null;
        string? runLows = null;
        foreach (var (high, ranges) in lows)
        {
            string lowClass = "[" + string.Concat(ranges.Select(r => r.First == r.Last ? U(r.First) : $"{U(r.First)}-{U(r.Last)}")) + "]";
            if (runLows == lowClass && runEnd + 1 == high) { runEnd = high; continue; }
            if (runLows is not null) alternatives.Add(Highs(runStart!.Value, runEnd!.Value) + runLows);
            (runStart, runEnd, runLows) = (high, high, lowClass);
        }
        if (runLows is not null) alternatives.Add(Highs(runStart!.Value, runEnd!.Value) + runLows);
        return string.Join("|", alternatives);

        static string U(int unit) => $@"\u{unit:X4}";
        static string Highs(int first, int last) => first == last ? U(first) : $"[{U(first)}-{U(last)}]";
    }

    private static (int First, int Last, UnicodeCategory Category)[] ComputeAstralRuns()
    {
        var runs = new List<(int First, int Last, UnicodeCategory Category)>();
        for (int cp = 0x10000; cp <= 0x10FFFF; cp++)
        {
            var category = CharUnicodeInfo.GetUnicodeCategory(cp);
            if (runs.Count > 0 && runs[^1].Category == category && runs[^1].Last == cp - 1) runs[^1] = (runs[^1].First, cp, category);
            else runs.Add((cp, cp, category));
        }
        return [.. runs];
    }

    /// <summary>The index just past the escape starting at i: <c>\p{L}</c>, <c>\x41</c>, <c>\u0041</c> or one escaped character.</summary>
    private static int EscapeEnd(string p, int i)
    {
        if (i + 1 >= p.Length) return p.Length;
        char kind = p[i + 1];
        if ((kind is 'p' or 'P') && i + 2 < p.Length && p[i + 2] == '{')
        {
            int close = p.IndexOf('}', i + 3);
            return close < 0 ? p.Length : close + 1;
        }
        if (kind == 'x') return Math.Min(p.Length, i + 4);
        if (kind == 'u') return Math.Min(p.Length, i + 6);
        return i + 2;
    }

    /// <summary>The index just past the character class starting at i (a ']' right after '[' or '[^' is a literal).</summary>
    private static int ClassEnd(string p, int i)
    {
        int j = i + 1;
        if (j < p.Length && p[j] == '^') j++;
        if (j < p.Length && p[j] == ']') j++;
        for (; j < p.Length; j++)
        {
            if (p[j] == '\\') { j = EscapeEnd(p, j) - 1; continue; }
            if (p[j] == ']') return j + 1;
        }
        return p.Length;
    }

    /// <summary>The index just past a <c>{n}</c>, <c>{n,}</c> or <c>{n,m}</c> quantifier at i, or −1 when the brace is a literal.</summary>
    private static int QuantifierEnd(string p, int i)
    {
        int close = p.IndexOf('}', i + 1);
        if (close < 0) return -1;
        var body = p.AsSpan(i + 1, close - i - 1);
        int comma = body.IndexOf(',');
        bool valid = comma < 0
            ? body.Length > 0 && IsDigits(body)
            : comma > 0 && IsDigits(body[..comma]) && IsDigits(body[(comma + 1)..]);
        return valid ? close + 1 : -1;

        static bool IsDigits(ReadOnlySpan<char> s) { foreach (char ch in s) if (!char.IsAsciiDigit(ch)) return false; return true; }
    }
}
