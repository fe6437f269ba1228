using System.Text.Json;
using Engine.Data;

namespace Engine.Checks;

/// <summary>
/// Google's IFEval files: prompts as in input_data.jsonl, <c>{"key": 1000, "prompt": "...", "instruction_id_list": ["..."], "kwargs": [{...}]}</c>
/// (one kwargs object per instruction; null values are ignored, as in Hugging Face's copy), and responses as in its
/// input_response_data, <c>{"prompt": "...", "response": "..."}</c>. Errors are <see cref="DataFormatException"/>s naming file and line.
/// </summary>
public static class IfEvalData
{
    public static List<IfEvalItem> ReadPrompts(string path)
    {
        var items = new List<IfEvalItem>();
        foreach (var (root, line) in JsonlRows.Read(path))
        {
            string file = Path.GetFileName(path);
            DataFormatException Error(string reason, Exception? inner = null) => new(file, line, reason, inner);
            string prompt = root.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : throw Error("no \"prompt\" string");
            string key = root.TryGetProperty("key", out var k) && k.ValueKind is JsonValueKind.Number or JsonValueKind.String ? (k.ValueKind == JsonValueKind.String ? k.GetString()! : k.GetRawText()) : line.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!root.TryGetProperty("instruction_id_list", out var ids) || ids.ValueKind != JsonValueKind.Array || ids.EnumerateArray().Any(i => i.ValueKind != JsonValueKind.String))
                throw Error("no \"instruction_id_list\" list of strings");
            var kwargs = root.TryGetProperty("kwargs", out var kw) && kw.ValueKind == JsonValueKind.Array ? kw.EnumerateArray().ToArray()
                : kw.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null ? [] : throw Error("\"kwargs\" is not a list");
            if (kwargs.Length != 0 && kwargs.Length != ids.GetArrayLength())
                throw Error($"{ids.GetArrayLength()} instructions but {kwargs.Length} kwargs objects");
            var checks = new List<Check>();
            foreach (var (id, index) in ids.EnumerateArray().Select((id, i) => (id.GetString()!, i)))
            {
                try { checks.Add(Instructions.Create(id, kwargs.Length == 0 ? default : kwargs[index])); }
                catch (ArgumentException e) { throw Error($"key {key}, instruction {index + 1}: {e.Message}", e); }
            }
            items.Add(new IfEvalItem(key, prompt, checks));
        }
        return items;
    }

    /// <summary>The responses of a responses file, one per prompt of items, in items' order. A response to a prompt the data does not hold,
    /// a prompt answered twice, or a prompt left without response is an error naming the row.</summary>
    public static string[] ReadResponses(string path, IReadOnlyList<IfEvalItem> items, string dataFile)
    {
        string file = Path.GetFileName(path);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < items.Count; i++) index.TryAdd(items[i].Prompt, i);
        var responses = new string?[items.Count];
        foreach (var (root, line) in JsonlRows.Read(path))
        {
            string prompt = root.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : throw new DataFormatException(file, line, "no \"prompt\" string");
            string response = root.TryGetProperty("response", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : throw new DataFormatException(file, line, "no \"response\" string");
            if (!index.TryGetValue(prompt, out int at)) throw new DataFormatException(file, line, $"its prompt is not in {dataFile}: \"{Short(prompt)}\"");
            if (responses[at] is not null) throw new DataFormatException(file, line, $"a second response to the prompt of key {items[at].Key}");
            responses[at] = response;
        }
        for (int i = 0; i < items.Count; i++)
            if (responses[i] is null && index[items[i].Prompt] == i) throw new DataFormatException(file, 0, $"no response to the prompt of key {items[i].Key} in {dataFile}: \"{Short(items[i].Prompt)}\"");
        return items.Select(item => responses[index[item.Prompt]]!).ToArray();
    }

    private static string Short(string s) => s.Length <= 50 ? s : s[..47] + "...";
}
