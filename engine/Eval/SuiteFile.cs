using System.Text.Json;
using Engine.Checks;
using Engine.Data;

namespace Engine.Eval;

/// <summary>
/// A suite file (JSON; docs/EVAL.md): <c>{"name": "...", "tasks": [{"name", "kind", "data", ...}]}</c>, data paths relative to the file.
/// Per kind: exact takes "filters" (lm-eval's), "compare" (exact | numeric), "tolerance", "max_new_tokens", "limit"; ifeval takes
/// "max_new_tokens", "limit"; loss takes "limit"; choice takes "chat" (default true), "limit". Every error names the file and the task.
/// </summary>
public static class SuiteFile
{
    public static EvalSuite Read(string path)
    {
        string file = Path.GetFileName(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"suite {path} does not exist", path);
        JsonDocument document;
        try { document = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{file}: not JSON: {e.Message}", e); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("tasks", out var tasks) || tasks.ValueKind != JsonValueKind.Array || tasks.GetArrayLength() == 0)
                throw new InvalidDataException($"{file}: expected an object with a non-empty \"tasks\" list");
            string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
            var read = tasks.EnumerateArray().Select((task, i) => Task(task, i, file, directory)).ToList();
            if (read.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1) is { } twice)
                throw new InvalidDataException($"{file}: two tasks are named '{twice.Key}'");
            string name = root.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : Path.GetFileNameWithoutExtension(path);
            return new EvalSuite(name, read);
        }
    }

    private static EvalTask Task(JsonElement task, int index, string file, string directory)
    {
        string where = $"{file}: task {index + 1}";
        if (task.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{where} is not an object");
        var fields = task.EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        string Text(string key) => fields.TryGetValue(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
            : throw new InvalidDataException($"{where}: no \"{key}\" string");
        string name = Text("name");
        where = $"{file}: task '{name}'";
        string kind = Text("kind");
        string[] allowed = kind switch
        {
            "exact" => ["filters", "compare", "tolerance", "max_new_tokens", "limit"],
            "ifeval" => ["max_new_tokens", "limit"],
            "loss" => ["limit"],
            "choice" => ["chat", "limit"],
            _ => throw new InvalidDataException($"{where}: unknown kind '{kind}' (exact, ifeval, loss, choice)"),
        };
        if (fields.Keys.FirstOrDefault(k => k is not ("name" or "kind" or "data") && !allowed.Contains(k)) is { } unknown)
            throw new InvalidDataException($"{where}: a {kind} task takes no \"{unknown}\" ({string.Join(", ", allowed)})");
        int Int(string key, int otherwise) => !fields.TryGetValue(key, out var v) ? otherwise
            : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) && i > 0 ? i : throw new InvalidDataException($"{where}: \"{key}\" is {v.GetRawText()}, expected a whole number > 0");
        string data = Path.Combine(directory, Text("data"));
        if (!File.Exists(data)) throw new InvalidDataException($"{where}: data file {data} does not exist");
        int limit = Int("limit", int.MaxValue);
        try
        {
            return kind switch
            {
                "exact" => Exact(name, data, fields, Int("max_new_tokens", 64), limit, where),
                "ifeval" => new IfEvalTask(name, IfEvalData.ReadPrompts(data).Take(limit).ToList(), Int("max_new_tokens", 256)),
                "loss" => new LossTask(name, SftJsonl.Read(data).Take(limit).ToList()),
                _ => new ChoiceTask(name, ChoiceRows(data).Take(limit).ToList(), !fields.TryGetValue("chat", out var chat) || chat.ValueKind != JsonValueKind.False),
            };
        }
        catch (Exception e) when (e is ArgumentException or DataFormatException)
        {
            throw new InvalidDataException($"{where}: {e.Message}", e);
        }
    }

    private static ExactTask Exact(string name, string data, Dictionary<string, JsonElement> fields, int maxNewTokens, int limit, string where)
    {
        var filters = fields.TryGetValue("filters", out var f)
            ? f.ValueKind == JsonValueKind.Array ? f.EnumerateArray().Select(AnswerFilters.Parse).ToList() : throw new ArgumentException("\"filters\" is not a list")
            : [];
        var comparison = !fields.TryGetValue("compare", out var c) ? AnswerComparison.Exact : c.GetString() switch
        {
            "exact" => AnswerComparison.Exact,
            "numeric" => AnswerComparison.Numeric,
            _ => throw new ArgumentException($"\"compare\" is {c.GetRawText()}, expected \"exact\" or \"numeric\""),
        };
        double tolerance = !fields.TryGetValue("tolerance", out var t) ? 1e-6
            : t.ValueKind == JsonValueKind.Number && t.GetDouble() >= 0 ? t.GetDouble() : throw new ArgumentException($"\"tolerance\" is {t.GetRawText()}, expected a number ≥ 0");
        var examples = SftJsonl.Read(data).Take(limit).ToList();
        var items = examples.Select(e => Evaluation.SplitLastAnswer(e) is var (prompt, reference) ? new ExactItem(prompt, reference) : null!).ToList();
        if (comparison == AnswerComparison.Numeric && examples.Zip(items).FirstOrDefault(p => Verifiers.LastNumber(p.Second.Reference) is null) is { First: { } bad })
            throw new ArgumentException($"{bad.Origin}: the reference answer has no number to compare numerically");
        return new ExactTask(name, items, filters, comparison, tolerance, maxNewTokens);
    }

    /// <summary>Rows {"prompt": "...", "choices": ["...", ...], "answer": index}; errors name file and line.</summary>
    public static List<ChoiceItem> ChoiceRows(string path)
    {
        string file = Path.GetFileName(path);
        var items = new List<ChoiceItem>();
        foreach (var (row, line) in JsonlRows.Read(path))
        {
            string prompt = row.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : throw new DataFormatException(file, line, "no \"prompt\" string");
            if (!row.TryGetProperty("choices", out var c) || c.ValueKind != JsonValueKind.Array || c.GetArrayLength() < 2 || c.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
                throw new DataFormatException(file, line, "\"choices\" is not a list of at least two strings");
            var choices = c.EnumerateArray().Select(x => x.GetString()!).ToList();
            int answer = row.TryGetProperty("answer", out var a) && a.ValueKind == JsonValueKind.Number && a.TryGetInt32(out int i) && i >= 0 && i < choices.Count ? i
                : throw new DataFormatException(file, line, $"\"answer\" is not an index into the {choices.Count} choices");
            items.Add(new ChoiceItem(prompt, choices, answer));
        }
        return items;
    }
}
