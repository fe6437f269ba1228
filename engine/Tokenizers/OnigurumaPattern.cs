using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Engine.Tokenizers;

/// <summary>
/// The pre-tokenizer of a Hugging Face tokenizer.json: added tokens are cut out first (each becomes one piece, longest
/// match first), then each Split regex in turn cuts every remaining piece into its matches and the gaps between them
/// (the "Isolated" behaviour), so no character is ever dropped.
/// </summary>
public sealed class HfPreTokenizer : PreTokenizer
{
    private readonly Regex? _addedTokens;
    private readonly Regex[] _splits;

    public HfPreTokenizer(IEnumerable<string> splitPatterns, IEnumerable<string> addedTokens)
    {
        _splits = splitPatterns.Select(p => new Regex(DotNetPattern(p), RegexOptions.Compiled | RegexOptions.CultureInvariant)).ToArray();
        string[] added = addedTokens.Where(t => t.Length > 0).Distinct().OrderByDescending(t => t.Length).ThenBy(t => t, StringComparer.Ordinal).ToArray();
        _addedTokens = added.Length == 0 ? null : new Regex(string.Join("|", added.Select(Regex.Escape)), RegexOptions.Compiled | RegexOptions.CultureInvariant);
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => PreTokenize(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text)
    {
        var pieces = new List<(int Offset, int Length)>();
        int done = 0;
        if (_addedTokens is not null)
            foreach (var match in _addedTokens.EnumerateMatches(text))
            {
                SplitPlain(text, done, match.Index - done, pieces);
                pieces.Add((match.Index, match.Length));
                done = match.Index + match.Length;
            }
        SplitPlain(text, done, text.Length - done, pieces);
        return pieces;
    }

    /// <summary>Appends the pieces of text[offset, offset+length) after every split regex has isolated its matches.</summary>
    private void SplitPlain(ReadOnlySpan<char> text, int offset, int length, List<(int Offset, int Length)> output)
    {
        if (length == 0) return;
        var pieces = new List<(int Offset, int Length)> { (offset, length) };
        foreach (var regex in _splits)
        {
            var next = new List<(int Offset, int Length)>(pieces.Count * 2);
            foreach (var (start, count) in pieces)
            {
                int at = start;
                foreach (var match in regex.EnumerateMatches(text.Slice(start, count)))
                {
                    if (match.Length == 0) continue;
                    if (start + match.Index > at) next.Add((at, start + match.Index - at));
                    next.Add((start + match.Index, match.Length));
                    at = start + match.Index + match.Length;
                }
                if (at < start + count) next.Add((at, start + count - at));
            }
            pieces = next;
        }
        output.AddRange(pieces);
    }

    /// <summary>
    /// The pattern with Oniguruma/PCRE possessive quantifiers (<c>x?+</c>, <c>x++</c>, <c>x*+</c>, <c>x{n,m}+</c>), which .NET lacks,
    /// rewritten as the equivalent atomic groups <c>(?&gt;x?)</c>; everything else is left as it is.
    /// </summary>
    public static string DotNetPattern(string pattern)
    {
        var output = new System.Text.StringBuilder(pattern.Length + 16);
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
