using System.Text;

namespace Engine.Templates;

/// <summary>Python's str methods as templates call them (<c>content.split('&lt;/think&gt;')</c>, <c>name.startswith(…)</c>, …).</summary>
public static class PythonText
{
    /// <summary>The characters Python's str.strip() removes by default, within the BMP.</summary>
    public static readonly char[] WhiteSpace = Enumerable.Range(0, 0x10000).Select(c => (char)c).Where(IsSpace).ToArray();

    /// <summary>Python's str.isspace for one character: .NET's white space plus the separators U+001C–U+001F.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static string Strip(string s, string? chars, bool start, bool end)
    {
        char[] set = chars?.ToCharArray() ?? WhiteSpace;
        return (start, end) switch
        {
            (true, true) => s.Trim(set),
            (true, false) => s.TrimStart(set),
            _ => s.TrimEnd(set),
        };
    }

    /// <summary>str.split(sep, maxsplit): on each sep, or with no sep on runs of white space with empty pieces dropped.</summary>
    public static List<object?> Split(string s, string? separator, long maxSplit)
    {
        var parts = new List<object?>();
        if (separator is not null)
        {
            if (separator.Length == 0) throw new TemplateError("empty separator");
            int from = 0;
            while (maxSplit < 0 || parts.Count < maxSplit)
            {
                int at = s.IndexOf(separator, from, StringComparison.Ordinal);
                if (at < 0) break;
                parts.Add(s[from..at]);
                from = at + separator.Length;
            }
            parts.Add(s[from..]);
            return parts;
        }
        int i = 0;
        while (true)
        {
            while (i < s.Length && IsSpace(s[i])) i++;
            if (i >= s.Length) return parts;
            if (maxSplit >= 0 && parts.Count == maxSplit)
            {
                parts.Add(s[i..].TrimEnd(WhiteSpace));
                return parts;
            }
            int start = i;
            while (i < s.Length && !IsSpace(s[i])) i++;
            parts.Add(s[start..i]);
        }
    }

    /// <summary>str.splitlines(): lines without their ends, no empty last line.</summary>
    public static List<object?> SplitLines(string s)
    {
        var lines = s.Replace("\r\n", "\n").Replace('\r', '\n').Split('\n').Select(l => (object?)l).ToList();
        if (lines is [.., ""]) lines.RemoveAt(lines.Count - 1);
        return lines;
    }

    /// <summary>str.title(): each run of letters starts upper case and goes on lower case.</summary>
    public static string Title(string s)
    {
        var text = new StringBuilder(s.Length);
        bool previousLetter = false;
        foreach (char c in s)
        {
            text.Append(previousLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousLetter = char.IsLetter(c);
        }
        return text.ToString();
    }

    public static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    /// <summary>str.replace(old, new, count): the first count occurrences, all when count is negative.</summary>
    public static string Replace(string s, string old, string replacement, long count)
    {
        if (old.Length == 0) throw new TemplateError("replace() of an empty string is not supported");
        var text = new StringBuilder();
        int from = 0;
        for (long done = 0; count < 0 || done < count; done++)
        {
            int at = s.IndexOf(old, from, StringComparison.Ordinal);
            if (at < 0) break;
            text.Append(s, from, at - from).Append(replacement);
            from = at + old.Length;
        }
        return text.Append(s, from, s.Length - from).ToString();
    }
}
