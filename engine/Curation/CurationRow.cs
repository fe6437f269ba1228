using System.Text.Json;
using Engine.Data;

namespace Engine.Curation;

/// <summary>
/// One JSONL row being curated: its line as read (written out unchanged when kept, so fields such as <c>answer</c>, <c>checks</c> or
/// <c>meta</c> travel with it), where it came from, and its conversation. The prompt is every turn before the last assistant turn;
/// the response is that turn (empty for a prompt-only row).
/// </summary>
public sealed record CurationRow(string File, int Line, string Json, SftExample Example)
{
    public string Where => $"{File}:{Line}";

    /// <summary>The turns before the last assistant turn (all turns when there is none).</summary>
    public IReadOnlyList<ChatTurn> Prompt { get; } = PromptOf(Example);

    /// <summary>The last assistant turn's text, or a plain-text row's text; "" for a prompt-only row.</summary>
    public string Response { get; } = Example.IsPlainText ? Example.Turns[0].Content
        : Example.Turns.LastOrDefault(t => t.Role == ChatRole.Assistant)?.Content ?? "";

    /// <summary>The user turns of the prompt, one per line: what prompt diversity, deduplication and decontamination read.</summary>
    public string PromptText { get; } = string.Join("\n", PromptOf(Example).Where(t => t.Role == ChatRole.User).Select(t => t.Content));

    /// <summary>Whether the row's <c>meta.finish</c> says its response stopped at the generation's token limit ("length").</summary>
    public bool StoppedAtLimit()
    {
        if (!Json.Contains("\"meta\"", StringComparison.Ordinal)) return false;
        using var document = JsonDocument.Parse(Json);
        return document.RootElement.TryGetProperty("meta", out var meta) && meta.ValueKind == JsonValueKind.Object
            && meta.TryGetProperty("finish", out var finish) && finish.ValueKind == JsonValueKind.String && finish.GetString() == "length";
    }

    private static IReadOnlyList<ChatTurn> PromptOf(SftExample example)
    {
        if (example.IsPlainText) return [];
        int last = example.Turns.ToList().FindLastIndex(t => t.Role == ChatRole.Assistant);
        return last < 0 ? example.Turns : example.Turns.Take(last).ToList();
    }
}

/// <summary>Reads JSONL rows for curation, parsed in parallel; a malformed line throws a <see cref="DataFormatException"/> naming file:line.</summary>
public static class CurationRows
{
    /// <param name="requireAnswer">false for prompts (distill, best-of-k): rows without an answer are accepted.</param>
    public static List<CurationRow> Read(string path, bool requireAnswer = true)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"{path} does not exist");
        string file = Path.GetFileName(path);
        var lines = System.IO.File.ReadAllLines(path);
        var rows = new CurationRow?[lines.Length];
        // Every line parses on its own; the lowest-numbered bad line is the one reported.
        var errors = new DataFormatException?[lines.Length];
        Parallel.For(0, lines.Length, i =>
        {
            if (string.IsNullOrWhiteSpace(lines[i])) return;
            try { rows[i] = new CurationRow(file, i + 1, lines[i], SftJsonl.ParseLine(lines[i], file, i + 1, requireAnswer)); }
            catch (DataFormatException e) { errors[i] = e; }
        });
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw first;
        var result = rows.OfType<CurationRow>().ToList();
        if (result.Count == 0) throw new DataFormatException(file, 0, "no rows (the file is empty or only blank lines)");
        return result;
    }
}
