using System.Text;
using System.Text.RegularExpressions;
using Engine.Tokenizers.Unicode;

namespace Engine.Tokenizers;

/// <summary>The first step of a Hugging Face tokenizer: text in, text out (offsets are not tracked: the engine needs ids only).</summary>
public interface INormalizer
{
    string Normalize(string text);
}

/// <summary>NFC, NFD, NFKC or NFKD from the managed Unicode table (invariant globalization makes string.Normalize a no-op).</summary>
public sealed record UnicodeNormalizer(NormalForm Form) : INormalizer
{
    public string Normalize(string text) => UnicodeNormalization.Shared.Normalize(text, Form);
}

/// <summary>The prefix in front of any non-empty text (Llama-2 style tokenizers prepend "▁").</summary>
public sealed record PrependNormalizer(string Prefix) : INormalizer
{
    public string Normalize(string text) => text.Length == 0 ? text : Prefix + text;
}

/// <summary>Every match of the pattern (a literal or an Oniguruma regex) replaced by the content, taken literally.</summary>
public sealed record ReplaceNormalizer(Regex Pattern, string Content) : INormalizer
{
    public string Normalize(string text) => Pattern.Replace(text, _ => Content);
}

/// <summary>Each code point lowercased by its Unicode mapping (İ becomes "i̇", as Rust's char::to_lowercase gives).</summary>
public sealed record LowercaseNormalizer : INormalizer
{
    public string Normalize(string text)
    {
        var output = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value == 0x130) output.Append("i\u0307");
            else output.Append(Rune.ToLowerInvariant(rune).ToString());
        }
        return output.ToString();
    }
}

/// <summary>Leading and/or trailing white space removed.</summary>
public sealed record StripNormalizer(bool Left, bool Right) : INormalizer
{
    public string Normalize(string text) => (Left, Right) switch
    {
        (true, true) => text.Trim(),
        (true, false) => text.TrimStart(),
        (false, true) => text.TrimEnd(),
        _ => text,
    };
}

/// <summary>The normalizers one after another.</summary>
public sealed record SequenceNormalizer(IReadOnlyList<INormalizer> Steps) : INormalizer
{
    public string Normalize(string text)
    {
        foreach (var step in Steps) text = step.Normalize(text);
        return text;
    }
}
