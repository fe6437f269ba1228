using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Engine.Curation;

/// <summary>The filter's report for people (rows in, removed per stage with a few examples, rows out) and --explain's file.</summary>
public static class FilterReport
{
    public static void Write(FilterResult result, TextWriter output, int examples = 2)
    {
        output.WriteLine($"rows in: {result.RowsIn:N0}");
        foreach (string stage in FilterResult.Stages)
        {
            var removed = result.Removed.Where(r => r.Stage == stage).ToList();
            output.WriteLine($"  {stage,-16} removed {removed.Count,8:N0}");
            foreach (var r in removed.Take(examples))
                output.WriteLine($"      {r.Row.Where}: {r.Reason} | {Preview(r.Row.Response)}");
        }
        output.WriteLine($"rows out: {result.Kept.Count:N0} ({(double)result.Kept.Count / result.RowsIn:P1} kept)");
    }

    /// <summary>--explain's file: one JSON line per removed row, in input order: its place, stage, reason and the row as read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WriteExplanation(FilterResult result, Stream stream)
    {
        // Lines gather in a buffer that goes to the stream a megabyte at a time (the writer's Flush would flush the stream per line).
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        using var json = new Utf8JsonWriter(buffer);
        foreach (var r in result.Removed.OrderBy(r => r.Row.Line))
        {
            json.Reset();
            json.WriteStartObject();
            json.WriteString("file", r.Row.File);
            json.WriteNumber("line", r.Row.Line);
            json.WriteString("stage", r.Stage);
            json.WriteString("reason", r.Reason);
            json.WritePropertyName("row");
            json.WriteRawValue(r.Row.Utf8.Span, skipInputValidation: true);
            json.WriteEndObject();
            json.Flush();
            buffer.Write("\n"u8);
            if (buffer.WrittenCount < 1 << 20) continue;
            stream.Write(buffer.WrittenSpan);
            buffer.ResetWrittenCount();
        }
        stream.Write(buffer.WrittenSpan);
    }

    private static string Preview(string text)
    {
        string flat = text.ReplaceLineEndings(" ");
        return flat.Length <= 60 ? flat : flat[..57] + "...";
    }
}
