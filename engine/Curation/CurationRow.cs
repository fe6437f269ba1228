using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Engine.Data;

namespace Engine.Curation;

/// <summary>
/// One JSONL row being curated: its line as read (UTF-8, written out unchanged when kept, so fields such as <c>answer</c>,
/// <c>checks</c> or <c>meta</c> travel with it), where it came from, and its conversation. The prompt is every turn before the last
/// assistant turn; the response is that turn (empty for a prompt-only row).
/// </summary>
/// <param name="example">The conversation, or null: parsed from the line when first asked for (a line already known to parse, as
/// <see cref="CurationRows"/> checks every line; the filter reads a plain row's words from its bytes and never asks).</param>
/// <param name="requireAnswer">How the line is parsed when it is (as <see cref="SftJsonl.ParseLine(ReadOnlyMemory{byte}, string, int, bool)"/>).</param>
public sealed class CurationRow(string file, int line, ReadOnlyMemory<byte> utf8, SftExample? example, bool requireAnswer = true)
{
    private SftExample? _example = example;

    public string File { get; } = file;

    public int Line { get; } = line;

    public ReadOnlyMemory<byte> Utf8 { get; } = utf8;

    /// <summary>The conversation (parsed once; two threads asking at once may both parse it, to equal results).</summary>
    public SftExample Example => _example ??= SftJsonl.ParseLine(Utf8, File, Line, requireAnswer);

    public string Where => $"{File}:{Line}";

    /// <summary>The line as read.</summary>
    public string Json => Encoding.UTF8.GetString(Utf8.Span);

    /// <summary>The turns before the last assistant turn (all turns when there is none).</summary>
    public IReadOnlyList<ChatTurn> Prompt => Example.Turns.Take(PromptLength(Example)).ToList();

    /// <summary>The last assistant turn's text, or a plain-text row's text; "" for a prompt-only row.</summary>
    public string Response => PromptLength(Example) < Example.Turns.Count ? Example.Turns[PromptLength(Example)].Content : "";

    /// <summary>The user turns of the prompt, one per line: what prompt diversity, deduplication and decontamination read.</summary>
    public string PromptText => string.Join("\n", Example.Turns.Take(PromptLength(Example)).Where(t => t.Role == ChatRole.User).Select(t => t.Content));

    /// <summary>The index of the response turn; the turns before it are the prompt (<see cref="Prompt"/>).</summary>
    public int ResponseTurn => PromptLength(Example);

    /// <summary>Whether the row's <c>meta.finish</c> says its response stopped at the generation's token limit ("length").</summary>
    public bool StoppedAtLimit()
    {
        if (Utf8.Span.IndexOf("\"meta\""u8) < 0) return false;
        using var document = JsonDocument.Parse(Utf8);
        return document.RootElement.TryGetProperty("meta", out var meta) && meta.ValueKind == JsonValueKind.Object
            && meta.TryGetProperty("finish", out var finish) && finish.ValueKind == JsonValueKind.String && finish.GetString() == "length";
    }

    /// <summary>The turns before the last assistant turn: its index, all turns when there is none, none for a plain-text row.</summary>
    private static int PromptLength(SftExample example)
    {
        if (example.IsPlainText) return 0;
        for (int i = example.Turns.Count - 1; i >= 0; i--)
            if (example.Turns[i].Role == ChatRole.Assistant) return i;
        return example.Turns.Count;
    }
}

/// <summary>Reads JSONL rows for curation, parsed in parallel from the file's UTF-8 bytes; a malformed line throws a
/// <see cref="DataFormatException"/> naming file:line.</summary>
public static class CurationRows
{
    /// <param name="requireAnswer">false for prompts (distill, best-of-k): rows without an answer are accepted.</param>
    public static List<CurationRow> Read(string path, bool requireAnswer = true)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"{path} does not exist");
        string file = Path.GetFileName(path);
        byte[] bytes = System.IO.File.ReadAllBytes(path);
        var lines = Lines(bytes);
        var rows = new CurationRow?[lines.Count];
        // Every line parses on its own; the lowest-numbered bad line is the one reported.
        var errors = new DataFormatException?[lines.Count];
        Parallel.For(0, lines.Count, i =>
        {
            try { rows[i] = Parse(file, i + 1, bytes.AsMemory(lines[i]), requireAnswer); }
            catch (DataFormatException e) { errors[i] = e; }
        });
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw first;
        var result = rows.OfType<CurationRow>().ToList();
        if (result.Count == 0) throw new DataFormatException(file, 0, "no rows (the file is empty or only blank lines)");
        return result;
    }

    /// <summary>The row of one line, or null for a blank line; a plain row is only checked here (its turns are read when needed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static CurationRow? Parse(string file, int line, ReadOnlyMemory<byte> bytes, bool requireAnswer)
    {
        if (bytes.Span.Trim(" \t\r"u8).IsEmpty) return null;
        var example = PlainMessages.Accepts(bytes.Span, requireAnswer) ? null : SftJsonl.ParseLine(bytes, file, line, requireAnswer);
        return new CurationRow(file, line, bytes, example, requireAnswer);
    }

    /// <summary>Each line's bytes, without its line break (\n or \r\n) and, on the first line, a UTF-8 byte order mark.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static List<Range> Lines(byte[] bytes)
    {
        var lines = new List<Range>(bytes.Length / 128 + 1);
        int start = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        while (start < bytes.Length)
        {
            int length = bytes.AsSpan(start).IndexOf((byte)'\n');
            int end = length < 0 ? bytes.Length : start + length;
            lines.Add(start..(end > start && bytes[end - 1] == '\r' ? end - 1 : end));
            start = end + 1;
        }
        return lines;
    }
}
