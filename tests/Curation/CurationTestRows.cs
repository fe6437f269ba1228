using System.Text.Json;
using Engine.Curation;
using Engine.Data;

namespace Engine.Tests.Curation;

/// <summary>Rows for the curation tests, built the way a JSONL file would give them.</summary>
public static class CurationTestRows
{
    public static CurationRow Row(string prompt, string response, int line = 1, string? extra = null)
    {
        string json = $"{{\"prompt\": {JsonSerializer.Serialize(prompt)}, \"completion\": {JsonSerializer.Serialize(response)}{(extra is null ? "" : ", " + extra)}}}";
        return new CurationRow("test.jsonl", line, System.Text.Encoding.UTF8.GetBytes(json), SftJsonl.ParseLine(json, "test.jsonl", line));
    }

    /// <summary>A text of n words drawn (seeded) from a vocabulary of 5,000 made-up words, so two such texts share almost no 5-gram.</summary>
    public static string RandomText(int words, int seed)
    {
        var rng = new Random(seed);
        return string.Join(" ", Enumerable.Range(0, words).Select(_ => $"w{rng.Next(5000)}"));
    }
}
