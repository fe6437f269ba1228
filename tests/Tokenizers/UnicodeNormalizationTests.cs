using System.IO.Compression;
using Engine.Tokenizers.Unicode;
using Xunit;

namespace Engine.Tests.Tokenizers;

/// <summary>The managed normalization table against the Unicode 15.0.0 conformance file (Unicode/README.md), every line and form.</summary>
public class UnicodeNormalizationTests
{
    [Fact]
    public void EveryLineOfNormalizationTestHolds()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Tokenizers", "Unicode", "NormalizationTest-15.0.0.txt.gz");
        using var reader = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
        var unicode = UnicodeNormalization.Shared;
        var failures = new List<string>();
        int lines = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] is '#' or '@') continue;
            // c1;c2;c3;c4;c5: NFC(c1) = c2, NFD(c1) = c3, NFKC(c1) = c4, NFKD(c1) = c5 (and the same of the other columns, UAX #15).
            string[] c = line.Split(';').Take(5).Select(Text).ToArray();
            lines++;
            Check(NormalForm.Nfc, c[1], c[0], c[1], c[2]);
            Check(NormalForm.Nfc, c[3], c[3], c[4]);
            Check(NormalForm.Nfd, c[2], c[0], c[1], c[2]);
            Check(NormalForm.Nfd, c[4], c[3], c[4]);
            Check(NormalForm.Nfkc, c[3], c);
            Check(NormalForm.Nfkd, c[4], c);
            if (failures.Count > 20) break;

            void Check(NormalForm form, string expected, params string[] inputs)
            {
                foreach (string input in inputs)
                    if (unicode.Normalize(input, form) != expected) failures.Add($"{form}({Hex(input)}) = {Hex(unicode.Normalize(input, form))}, expected {Hex(expected)}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(lines > 19000, $"only {lines} test lines read");
    }

    [Fact]
    public void CommonCasesComposeAndDecompose()
    {
        var unicode = UnicodeNormalization.Shared;
        Assert.Equal("café", unicode.Normalize("cafe\u0301", NormalForm.Nfc));
        Assert.Equal("cafe\u0301", unicode.Normalize("café", NormalForm.Nfd));
        Assert.Equal("fi ABC 1 kg", unicode.Normalize("ﬁ ＡＢＣ ① ㎏", NormalForm.Nfkc));
        Assert.Equal("한", unicode.Normalize("\u1112\u1161\u11AB", NormalForm.Nfc));
        Assert.Equal("ệ", unicode.Normalize("e\u0302\u0323", NormalForm.Nfc));   // marks reordered by class (323 below, 302 above), then composed
    }

    private static string Text(string hexCodePoints)
        => string.Concat(hexCodePoints.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(h => char.ConvertFromUtf32(Convert.ToInt32(h, 16))));

    private static string Hex(string text) => string.Join(" ", text.EnumerateRunes().Select(r => r.Value.ToString("X4")));
}
