using System.Text;

namespace Engine.Data;

/// <summary>UTF-8 bytes as tokens: a vocabulary of 256 that needs no files.</summary>
public static class ByteTokenizer
{
    public const int VocabSize = 256;

    public static int[] Encode(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();

    public static string Decode(IEnumerable<int> ids) => Encoding.UTF8.GetString(ids.Select(i => (byte)i).ToArray());
}
