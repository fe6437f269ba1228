using System.Text;
using System.Text.RegularExpressions;
using System.Text.Unicode;

namespace Engine.Tokenizers;

/// <summary>The way back from tokens to text: each decoder turns the list of token strings into another; the result is their concatenation.</summary>
public interface IDecoder
{
    List<string> Decode(List<string> tokens);
}

/// <summary>All tokens' byte-level symbols as bytes, read as UTF-8 (invalid sequences become U+FFFD); a token with another character stays as it is.</summary>
public sealed record ByteLevelDecoder : IDecoder
{
    public List<string> Decode(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (string token in tokens) bytes.AddRange(ByteLevelAlphabet.Decode(token) ?? Encoding.UTF8.GetBytes(token));
        return [Encoding.UTF8.GetString([.. bytes])];
    }
}

/// <summary>Runs of byte tokens <c>&lt;0xNN&gt;</c> become the text they encode, or one U+FFFD per byte when that is not valid UTF-8.</summary>
public sealed record ByteFallbackDecoder : IDecoder
{
    public List<string> Decode(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        foreach (string token in tokens)
        {
            if (ByteToken(token) is byte b) { bytes.Add(b); continue; }
            Flush();
            output.Add(token);
        }
        Flush();
        return output;

        void Flush()
        {
            if (bytes.Count == 0) return;
            byte[] run = [.. bytes];
            if (Utf8.IsValid(run)) output.Add(Encoding.UTF8.GetString(run));
            else output.AddRange(Enumerable.Repeat("\uFFFD", run.Length));
            bytes.Clear();
        }
    }

    /// <summary>The byte of a token written <c>&lt;0xNN&gt;</c>, else null.</summary>
    public static byte? ByteToken(string token)
        => token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
           && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b) ? b : null;
}

/// <summary>All tokens joined into one.</summary>
public sealed record FuseDecoder : IDecoder
{
    public List<string> Decode(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>Up to <c>Start</c> leading and <c>Stop</c> trailing copies of a character removed from each token.</summary>
public sealed record StripDecoder(char Content, int Start, int Stop) : IDecoder
{
    public List<string> Decode(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        foreach (string token in tokens)
        {
            int from = 0, to = token.Length;
            while (from < Math.Min(Start, token.Length) && token[from] == Content) from++;
            for (int i = 0; i < Stop && to > from && token[to - 1] == Content; i++) to--;
            output.Add(token[from..to]);
        }
        return output;
    }
}

/// <summary>Every match of the pattern in each token replaced by the content.</summary>
public sealed record ReplaceDecoder(Regex Pattern, string Content) : IDecoder
{
    public List<string> Decode(List<string> tokens) => tokens.Select(t => Pattern.Replace(t, _ => Content)).ToList();
}

/// <summary>The replacement character back to a space; in the first token it is dropped instead, unless nothing was prepended.</summary>
public sealed record MetaspaceDecoder(char Replacement, PrependScheme Scheme) : IDecoder
{
    public List<string> Decode(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            bool drop = i == 0 && Scheme != PrependScheme.Never;
            output.Add(drop ? tokens[i].Replace(Replacement.ToString(), "") : tokens[i].Replace(Replacement, ' '));
        }
        return output;
    }
}

/// <summary>The decoders one after another.</summary>
public sealed record SequenceDecoder(IReadOnlyList<IDecoder> Steps) : IDecoder
{
    public List<string> Decode(List<string> tokens)
    {
        foreach (var step in Steps) tokens = step.Decode(tokens);
        return tokens;
    }
}
