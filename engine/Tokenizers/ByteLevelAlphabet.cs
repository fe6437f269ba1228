using System.Text;

namespace Engine.Tokenizers;

/// <summary>
/// GPT-2's bytes_to_unicode: each byte as a printable character, the printable Latin-1 bytes as themselves and the others
/// as U+0100, U+0101, … in byte order (a space is "Ġ", a newline "Ċ").
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] Symbols = MakeSymbols();
    private static readonly Dictionary<char, byte> Bytes = Enumerable.Range(0, 256).ToDictionary(b => Symbols[b], b => (byte)b);

    /// <summary>The symbol of a byte.</summary>
    public static char Symbol(byte b) => Symbols[b];

    /// <summary>The text's UTF-8 bytes as symbols.</summary>
    public static string Encode(string text)
    {
        var output = new StringBuilder(text.Length * 2);
        foreach (byte b in Encoding.UTF8.GetBytes(text)) output.Append(Symbols[b]);
        return output.ToString();
    }

    /// <summary>The bytes of a symbol string, or null when a character is not a symbol.</summary>
    public static byte[]? Decode(string symbols)
    {
        var bytes = new byte[symbols.Length];
        for (int i = 0; i < symbols.Length; i++)
        {
            if (!Bytes.TryGetValue(symbols[i], out bytes[i])) return null;
        }
        return bytes;
    }

    private static char[] MakeSymbols()
    {
        var symbols = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            symbols[b] = (char)(printable ? b : next++);
        }
        return symbols;
    }
}
