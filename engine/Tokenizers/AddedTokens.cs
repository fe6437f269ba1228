using System.Text;
using System.Text.RegularExpressions;

namespace Engine.Tokenizers;

/// <summary>
/// An entry of tokenizer.json's added_tokens. <c>Normalized</c> tokens are found in the normalized text, the others in the
/// raw text; <c>LStrip</c>/<c>RStrip</c> take the white space before/after into the token; <c>SingleWord</c> tokens are
/// found only where no letter, digit or '_' touches them.
/// </summary>
public sealed record AddedToken(int Id, string Content, bool Normalized, bool LStrip, bool RStrip, bool SingleWord);

/// <summary>
/// Finds added tokens in text as Hugging Face's AddedVocabulary does: the leftmost match, the longest at a position, and
/// the text between matches left for the normalizer and the model.
/// </summary>
public sealed class AddedTokenMatcher
{
    private readonly Regex? _pattern;
    private readonly Dictionary<string, AddedToken> _byContent;

    /// <param name="tokens">The tokens to find, by the text they are found as (their content, normalized for normalized tokens).</param>
    public AddedTokenMatcher(IEnumerable<(string Text, AddedToken Token)> tokens)
    {
        _byContent = [];
        foreach (var (text, token) in tokens) if (text.Length > 0) _byContent.TryAdd(text, token);
        var longestFirst = _byContent.Keys.OrderByDescending(t => t.Length).ThenBy(t => t, StringComparer.Ordinal);
        _pattern = _byContent.Count == 0 ? null : new Regex(string.Join("|", longestFirst.Select(Regex.Escape)), RegexOptions.CultureInvariant);
    }

    /// <summary>The text cut into added tokens (with their id) and the plain text between them (id null), in order.</summary>
    public List<(int Start, int End, int? Id)> Split(string text)
    {
        var pieces = new List<(int Start, int End, int? Id)>();
        int done = 0;
        if (_pattern is not null)
            foreach (var match in _pattern.EnumerateMatches(text))
            {
                int start = match.Index, end = match.Index + match.Length;
                var token = _byContent[text.Substring(start, match.Length)];
                if (start < done) continue;   // inside white space an rstrip token took
                if (token.SingleWord && (IsWordCharacterBefore(text, start) || IsWordCharacterAt(text, end))) continue;
                if (token.LStrip) { while (start > done && char.IsWhiteSpace(text[start - 1])) start--; }
                if (token.RStrip) { while (end < text.Length && char.IsWhiteSpace(text[end])) end++; }
                if (start > done) pieces.Add((done, start, null));
                pieces.Add((start, end, token.Id));
                done = end;
            }
        if (done < text.Length) pieces.Add((done, text.Length, null));
        return pieces;
    }

    private static bool IsWordCharacterBefore(string text, int index)
        => index > 0 && Rune.TryGetRuneAt(text, char.IsLowSurrogate(text[index - 1]) && index > 1 ? index - 2 : index - 1, out var rune) && IsWordCharacter(rune);

    private static bool IsWordCharacterAt(string text, int index)
        => index < text.Length && Rune.TryGetRuneAt(text, index, out var rune) && IsWordCharacter(rune);

    /// <summary>A letter, a digit or '_' (what the reference counts as part of a word).</summary>
    private static bool IsWordCharacter(Rune rune) => Rune.IsLetterOrDigit(rune) || rune.Value == '_';
}
