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

    /// <summary>One JSON line per removed row, in input order: its place, stage, reason and the row as read.</summary>
    public static IEnumerable<string> ExplainLines(FilterResult result)
        => result.Removed.OrderBy(r => r.Row.Line).Select(r =>
            $"{{\"file\":{JsonSerializer.Serialize(r.Row.File)},\"line\":{r.Row.Line},\"stage\":{JsonSerializer.Serialize(r.Stage)},\"reason\":{JsonSerializer.Serialize(r.Reason)},\"row\":{r.Row.Json}}}");

    private static string Preview(string text)
    {
        string flat = text.ReplaceLineEndings(" ");
        return flat.Length <= 60 ? flat : flat[..57] + "...";
    }
}
