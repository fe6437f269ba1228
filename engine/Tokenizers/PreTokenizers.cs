using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Engine.Tokenizers;

/// <summary>A piece of normalized text on its way to the model, and whether it begins the original text.</summary>
public readonly record struct TextPiece(string Text, bool StartsText);

/// <summary>The second step of a Hugging Face tokenizer: a piece cut into smaller pieces, each of which the model encodes alone.</summary>
public interface IPreTokenizer
{
    void Split(TextPiece piece, List<TextPiece> output);
}

/// <summary>The pieces of <see cref="Splits.Split"/>, the first of them keeping the piece's <see cref="TextPiece.StartsText"/>.</summary>
file static class PieceSplits
{
    public static void Add(TextPiece piece, IReadOnlyList<(int Start, int End)> matches, SplitBehavior behavior, bool invert, List<TextPiece> output)
    {
        foreach (var (start, end) in Splits.Split(piece.Text, matches, behavior, invert))
            output.Add(new TextPiece(piece.Text[start..end], piece.StartsText && start == 0));
    }
}

/// <summary>Split on a regex or literal (a literal is an escaped regex), with any behavior, optionally inverted.</summary>
public sealed record SplitPreTokenizer(Regex Pattern, SplitBehavior Behavior, bool Invert) : IPreTokenizer
{
    public void Split(TextPiece piece, List<TextPiece> output)
        => PieceSplits.Add(piece, Splits.RegexMatches(Pattern, piece.Text), Behavior, Invert, output);
}

/// <summary>Numbers (Unicode N categories) cut out: each digit alone, or runs of digits together.</summary>
public sealed record DigitsPreTokenizer(bool IndividualDigits) : IPreTokenizer
{
    public void Split(TextPiece piece, List<TextPiece> output)
        => PieceSplits.Add(piece, Splits.CharacterMatches(piece.Text, IsNumeric), IndividualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous, false, output);

    /// <summary>Rust's char::is_numeric: the Nd, Nl and No categories.</summary>
    private static bool IsNumeric(Rune rune) => Rune.GetUnicodeCategory(rune) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
}

/// <summary>When the replacement character is prepended: always, only to the piece that begins the text, or never.</summary>
public enum PrependScheme { Always, First, Never }

/// <summary>
/// SentencePiece's view of spaces: every space becomes the replacement ("▁"), which is prepended as the scheme says (unless
/// the piece is empty or starts with it), and with <c>Split</c> each piece is cut before every replacement.
/// </summary>
public sealed record MetaspacePreTokenizer(char Replacement, PrependScheme Scheme, bool SplitAtReplacement) : IPreTokenizer
{
    public void Split(TextPiece piece, List<TextPiece> output)
    {
        string text = piece.Text.Replace(' ', Replacement);
        bool prepend = Scheme == PrependScheme.Always || (Scheme == PrependScheme.First && piece.StartsText);
        if (prepend && text.Length > 0 && !text.StartsWith(Replacement)) text = Replacement + text;
        var replaced = piece with { Text = text };
        if (!SplitAtReplacement) { output.Add(replaced); return; }
        PieceSplits.Add(replaced, Splits.CharacterMatches(text, r => r.Value == Replacement), SplitBehavior.MergedWithNext, false, output);
    }
}

/// <summary>
/// GPT-2's byte level: optionally a space in front of a non-empty piece that does not start with one, optionally GPT-2's regex
/// (Isolated), then every UTF-8 byte written as its printable stand-in (<see cref="ByteLevelAlphabet"/>).
/// </summary>
public sealed record ByteLevelPreTokenizer(bool AddPrefixSpace, Regex? Gpt2Regex) : IPreTokenizer
{
    /// <summary>The regex ByteLevel applies when its use_regex is true (GPT-2's).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public void Split(TextPiece piece, List<TextPiece> output)
    {
        if (AddPrefixSpace && piece.Text.Length > 0 && !piece.Text.StartsWith(' ')) piece = piece with { Text = " " + piece.Text };
        var pieces = new List<TextPiece>();
        if (Gpt2Regex is null) pieces.Add(piece);
        else PieceSplits.Add(piece, Splits.RegexMatches(Gpt2Regex, piece.Text), SplitBehavior.Isolated, false, pieces);
        foreach (var p in pieces) output.Add(p with { Text = ByteLevelAlphabet.Encode(p.Text) });
    }
}

/// <summary>The pre-tokenizers one after another, each on every piece the one before produced.</summary>
public sealed record SequencePreTokenizer(IReadOnlyList<IPreTokenizer> Steps) : IPreTokenizer
{
    public void Split(TextPiece piece, List<TextPiece> output)
    {
        var pieces = new List<TextPiece> { piece };
        foreach (var step in Steps)
        {
            var next = new List<TextPiece>(pieces.Count * 2);
            foreach (var p in pieces) step.Split(p, next);
            pieces = next;
        }
        output.AddRange(pieces);
    }
}
