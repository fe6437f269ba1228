using System.Text.Json;

namespace Engine.Data;

/// <summary>The rows of a JSONL file as JSON objects: a malformed line, a line that is not an object or a file without rows is a
/// <see cref="DataFormatException"/> naming file and line.</summary>
public static class JsonlRows
{
    /// <summary>Each non-blank line of a JSONL file as a JSON object, with its 1-based line number.</summary>
    public static IEnumerable<(JsonElement Root, int Line)> Read(string path)
    {
        string file = Path.GetFileName(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} does not exist", path);
        int line = 0, rows = 0;
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonElement root;
            try
            {
                using var document = JsonDocument.Parse(text);
                root = document.RootElement.Clone();
            }
            catch (JsonException e) { throw new DataFormatException(file, line, $"malformed JSON: {e.Message.Split(" LineNumber:")[0]}", e); }
            if (root.ValueKind != JsonValueKind.Object) throw new DataFormatException(file, line, $"expected a JSON object, found {root.ValueKind}");
            rows++;
            yield return (root, line);
        }
        if (rows == 0) throw new DataFormatException(file, 0, "no rows (the file is empty or only blank lines)");
    }

}
