using System.Text;

namespace Engine.Tokenizers.Unicode;

/// <summary>The four Unicode normalization forms (UAX #15).</summary>
public enum NormalForm { Nfc, Nfd, Nfkc, Nfkd }

/// <summary>
/// Unicode normalization from a managed table (normalization.txt, made by make_normalization_table.py from the Unicode
/// Character Database), because the engine runs with invariant globalization, where string.Normalize returns
/// its input unchanged. Decompose fully (canonical, or compatibility for the K forms; Hangul by formula), put combining marks
/// in canonical order, then for C and KC recompose every pair that is a primary composite.
/// </summary>
public sealed class UnicodeNormalization
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28;
    private const int NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Lazy<UnicodeNormalization> Table = new(Load);

    private readonly Dictionary<int, int[]> _canonical = [], _compatibility = [];
    private readonly Dictionary<int, byte> _combiningClass = [];
    private readonly Dictionary<(int, int), int> _composite = [];

    /// <summary>The table, read once from the assembly.</summary>
    public static UnicodeNormalization Shared => Table.Value;

    public string Normalize(string text, NormalForm form)
    {
        bool compatibility = form is NormalForm.Nfkc or NormalForm.Nfkd;
        // Nothing below U+00A0 decomposes, nothing below U+00C0 canonically, and nothing below U+0300 changes under NFC.
        if (IsUnaffected(text, form switch { NormalForm.Nfc => 0x300, NormalForm.Nfd => 0xC0, _ => 0xA0 })) return text;
        var codePoints = new List<int>(text.Length + 8);
        foreach (var rune in text.EnumerateRunes()) Decompose(rune.Value, compatibility, codePoints);
        SortCombiningMarks(codePoints);
        if (form is NormalForm.Nfc or NormalForm.Nfkc) Compose(codePoints);
        var output = new StringBuilder(codePoints.Count);
        foreach (int cp in codePoints) output.Append(char.ConvertFromUtf32(cp));
        return output.ToString();
    }

    /// <summary>The canonical combining class (0 for starters).</summary>
    private int CombiningClass(int codePoint) => _combiningClass.TryGetValue(codePoint, out byte c) ? c : 0;

    /// <summary>Text whose every character is below <paramref name="limit"/>, which no form changes.</summary>
    private static bool IsUnaffected(string text, int limit)
    {
        foreach (char c in text) if (c >= limit) return false;
        return true;
    }

    private void Decompose(int codePoint, bool compatibility, List<int> output)
    {
        if (codePoint is >= SBase and < SBase + SCount)
        {
            int s = codePoint - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (_canonical.TryGetValue(codePoint, out var parts) || (compatibility && _compatibility.TryGetValue(codePoint, out parts)))
            foreach (int part in parts) Decompose(part, compatibility, output);
        else output.Add(codePoint);
    }

    /// <summary>Each run of non-starters stably sorted by combining class (the canonical ordering algorithm).</summary>
    private void SortCombiningMarks(List<int> codePoints)
    {
        for (int i = 1; i < codePoints.Count; i++)
        {
            int cls = CombiningClass(codePoints[i]);
            if (cls == 0) continue;
            for (int j = i; j > 0 && CombiningClass(codePoints[j - 1]) > cls; j--)
                (codePoints[j - 1], codePoints[j]) = (codePoints[j], codePoints[j - 1]);
        }
    }

    /// <summary>
    /// The canonical composition algorithm: a character joins the last starter when no character between them has a
    /// combining class as high as its own (or it follows the starter directly) and the pair is a primary composite.
    /// </summary>
    private void Compose(List<int> codePoints)
    {
        if (codePoints.Count == 0) return;
        int starter = CombiningClass(codePoints[0]) == 0 ? 0 : -1, lastClass = starter == 0 ? 0 : 256, write = 1;
        for (int read = 1; read < codePoints.Count; read++)
        {
            int cp = codePoints[read], cls = CombiningClass(cp);
            if (starter >= 0 && (lastClass < cls || lastClass == 0) && Composite(codePoints[starter], cp) is int composite)
            {
                codePoints[starter] = composite;
                continue;
            }
            if (cls == 0) starter = write;
            lastClass = cls;
            codePoints[write++] = cp;
        }
        codePoints.RemoveRange(write, codePoints.Count - write);
    }

    private int? Composite(int first, int second)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
            return SBase + ((first - LBase) * VCount + second - VBase) * TCount;
        if (first is >= SBase and < SBase + SCount && (first - SBase) % TCount == 0 && second is > TBase and < TBase + TCount)
            return first + second - TBase;
        return _composite.TryGetValue((first, second), out int composite) ? composite : null;
    }

    private static UnicodeNormalization Load()
    {
        using var stream = typeof(UnicodeNormalization).Assembly.GetManifestResourceStream("Engine.Tokenizers.Unicode.normalization.txt")
            ?? throw new InvalidOperationException("the Unicode normalization table is not embedded in the assembly");
        using var reader = new StreamReader(stream);
        var table = new UnicodeNormalization();
        var excluded = new List<(int First, int Last)>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            int[] values = line[2..].Split(' ').Select(h => Convert.ToInt32(h, 16)).ToArray();
            switch (line[0])
            {
                case 'd': table._canonical[values[0]] = values[1..]; break;
                case 'k': table._compatibility[values[0]] = values[1..]; break;
                case 'x': excluded.Add((values[0], values[1])); break;
                case 'c':
                    for (int cp = values[0]; cp <= values[1]; cp++) table._combiningClass[cp] = (byte)values[2];
                    break;
            }
        }
        foreach (var (cp, parts) in table._canonical)
            if (parts.Length == 2 && !excluded.Any(r => cp >= r.First && cp <= r.Last)) table._composite[(parts[0], parts[1])] = cp;
        return table;
    }
}
