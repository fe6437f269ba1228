using System.Text.Json.Nodes;
using Engine.Templates;
using Engine.Tokenizers;

namespace Engine.Data;

/// <summary>Token ids and the per-token loss mask: true where the token is one the model learns to produce.</summary>
public sealed record TokenizedExample(int[] Ids, bool[] Mask)
{
    public int Length => Ids.Length;
}

/// <summary>
/// A Jinja chat template (the model's own from tokenizer_config.json, or a built-in <c>chatml</c> / <c>llama3</c>) rendered
/// as Hugging Face renders it, turning examples into token ids and a loss mask. The mask is 1 on what each assistant turn
/// says (its reasoning, content, tool calls and end-of-turn token), 0 on everything else; it comes from the template's
/// <c>{% generation %}</c> blocks when it has them, otherwise from rendering growing prefixes of the conversation: assistant
/// turn i starts where the render of the turns before it with the generation prompt ends, and runs through the first
/// end-of-turn token after that. Plain-text examples train on every token.
/// </summary>
public sealed class ChatTemplate
{
    public static IReadOnlyList<string> Names { get; } = ["chatml", "llama3"];

    /// <summary>The content of the probe turn that finds the end-of-turn token: text no template changes.</summary>
    private const string Probe = "PROBE";

    private readonly Template _template;
    private readonly string? _bosToken, _eosToken;
    private readonly DateTime? _now;
    private readonly bool _hasGeneration;

    private ChatTemplate(Template template, ITextTokenizer tokenizer, string? bosToken, string? eosToken, DateTime? now)
    {
        _template = template;
        Tokenizer = tokenizer;
        (_bosToken, _eosToken, _now) = (bosToken, eosToken, now);
        _hasGeneration = template.Source.Contains("generation", StringComparison.Ordinal) && Render(
            [new ChatTurn(ChatRole.User, "x"), new ChatTurn(ChatRole.Assistant, Probe)], null, null, false).Generation.Count > 0;
        (EndOfTurn, EndOfTurnId) = FindEndOfTurn();
        Begin = bosToken is not null && RenderText([new ChatTurn(ChatRole.User, "x")], addGenerationPrompt: true).StartsWith(bosToken, StringComparison.Ordinal) ? bosToken : "";
    }

    /// <summary>Names the template in errors: "chatml", "llama3" or the file the model's template came from.</summary>
    public string Name => _template.Name;

    public ITextTokenizer Tokenizer { get; }

    /// <summary>The special token that ends an assistant turn (&lt;|im_end|&gt;, &lt;|eot_id|&gt;, &lt;end_of_turn&gt;, …), and generation.</summary>
    public string EndOfTurn { get; }

    public int EndOfTurnId { get; }

    /// <summary>What every render starts with when it is the BOS token (Llama's &lt;|begin_of_text|&gt;, Gemma's &lt;bos&gt;), else "".</summary>
    public string Begin { get; }

    /// <summary>"chatml" or "llama3" (as given to --chat-template).</summary>
    public static ChatTemplate ByName(string name, ITextTokenizer tokenizer)
    {
        var (canonical, source, bos, specials) = name.ToLowerInvariant() switch
        {
            "chatml" => ("chatml", BuiltInTemplates.ChatMl, (string?)null, new[] { "<|im_start|>", "<|im_end|>" }),
            "llama3" or "llama-3" => ("llama3", BuiltInTemplates.Llama3, "<|begin_of_text|>", new[] { "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>" }),
            _ => throw new ArgumentException($"unknown chat template \"{name}\" (expected {string.Join(" or ", Names)})"),
        };
        foreach (string special in specials)
            if (tokenizer.TokenToId(special) is not { } id || tokenizer.Encode(special) is not [var encoded] || encoded != id)
                throw new ArgumentException($"the {canonical} chat template needs {special} as one token, and this tokenizer has none");
        return new ChatTemplate(Template.Parse(source, canonical), tokenizer, bos, null, null);
    }

    /// <summary>A Jinja chat template's source, e.g. tokenizer_config.json's chat_template.</summary>
    /// <param name="name">Names the template in errors (the file it came from).</param>
    /// <param name="bosToken">tokenizer_config.json's bos_token, which templates write as <c>{{ bos_token }}</c>.</param>
    /// <param name="now">What the template's strftime_now formats; the current time when null.</param>
    /// <exception cref="TemplateException">The template does not parse, or cannot render a one-exchange conversation.</exception>
    /// <exception cref="ArgumentException">Its assistant turns end in no special token of the tokenizer.</exception>
    public static ChatTemplate FromJinja(string source, string name, ITextTokenizer tokenizer, string? bosToken = null, string? eosToken = null, DateTime? now = null)
        => new(Template.Parse(source, name), tokenizer, bosToken, eosToken, now);

    /// <summary>The named built-in when a name is given, else the model's own chat_template; no template is an error naming the flag.</summary>
    public static ChatTemplate Resolve(string? name, TokenizerConfig config, ITextTokenizer tokenizer)
    {
        if (name is not null) return ByName(name, tokenizer);
        if (config.ChatTemplate is null)
            throw new ArgumentException($"the model has no chat_template in tokenizer_config.json: choose one with --chat-template {string.Join("|", Names)}");
        return FromJinja(config.ChatTemplate, config.ChatTemplateSource, tokenizer, config.BosToken, config.EosToken);
    }

    /// <summary>The text of a conversation as the template writes it (with the example's tools and template arguments).</summary>
    /// <exception cref="TemplateException">The template refuses the conversation (raise_exception).</exception>
    /// <exception cref="ArgumentException">The template drops the example's tools, tool calls or reasoning.</exception>
    public string RenderText(SftExample example, bool addGenerationPrompt)
    {
        string text = Render(example.Turns, example.Tools, example.TemplateArguments, addGenerationPrompt).Text;
        CheckNothingDropped(example, text, addGenerationPrompt);
        return text;
    }

    private string RenderText(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt) => Render(turns, null, null, addGenerationPrompt).Text;

    /// <summary>Ids and loss mask of a whole example. <paramref name="trainOnAll"/> sets every mask entry (headers and prompts too).</summary>
    /// <exception cref="ArgumentException">The template refuses the conversation or drops its tools, tool calls or reasoning, or
    /// its assistant turns cannot be found; the message names the example.</exception>
    public TokenizedExample Render(SftExample example, bool trainOnAll = false)
    {
        if (example.IsPlainText)
            return Tokenize([(Begin, false), (example.Turns[0].Content + EndOfTurn, true)], trainOnAll);
        RenderedText full;
        try
        {
            full = Render(example.Turns, example.Tools, example.TemplateArguments, addGenerationPrompt: false);
            CheckNothingDropped(example, full.Text, addGenerationPrompt: false);
        }
        catch (Exception e) when (e is TemplateException or ArgumentException) { throw new ArgumentException($"{example.Origin}: {e.Message}", e); }
        var spans = _hasGeneration ? full.Generation : AssistantSpans(example, full.Text);
        var pieces = new List<(string, bool)>();
        int done = 0;
        foreach (var (start, end) in spans.Where(s => s.End > s.Start).OrderBy(s => s.Start))
        {
            if (start < done) throw new ArgumentException($"{example.Origin}: the chat template {Name} renders overlapping assistant turns");
            pieces.Add((full.Text[done..start], false));
            pieces.Add((full.Text[start..end], true));
            done = end;
        }
        pieces.Add((full.Text[done..], false));
        return Tokenize(pieces, trainOnAll);
    }

    /// <summary>The ids of the conversation so far followed by the generation prompt: what a model continues to answer.</summary>
    public int[] RenderPrompt(IReadOnlyList<ChatTurn> turns) => Tokenizer.Encode(RenderText(turns, addGenerationPrompt: true));

    /// <summary>[start, end) of each assistant turn in <paramref name="text"/>, by rendering the turns before it with the generation prompt.</summary>
    private List<(int Start, int End)> AssistantSpans(SftExample example, string text)
    {
        var spans = new List<(int, int)>();
        for (int i = 0; i < example.Turns.Count; i++)
        {
            if (example.Turns[i].Role != ChatRole.Assistant) continue;
            string prompt = Render(example.Turns.Take(i).ToList(), example.Tools, example.TemplateArguments, addGenerationPrompt: true).Text;
            if (!text.StartsWith(prompt, StringComparison.Ordinal))
                throw new ArgumentException($"{example.Origin}: the chat template {Name} renders the conversation before assistant turn {i} differently once that turn " +
                                            "follows, so the turn's loss mask cannot be found (a template with {% generation %} blocks can)");
            int end = text.IndexOf(EndOfTurn, prompt.Length, StringComparison.Ordinal);
            if (end < 0) throw new ArgumentException($"{example.Origin}: assistant turn {i} does not end with {EndOfTurn} in the chat template {Name}");
            spans.Add((prompt.Length, end + EndOfTurn.Length));
        }
        return spans;
    }

    /// <summary>Refuses an example whose tools, tool calls or reasoning the template ignores: its text is the same without them.</summary>
    private void CheckNothingDropped(SftExample example, string text, bool addGenerationPrompt)
    {
        bool Same(SftExample without)
        {
            try { return Render(without.Turns, without.Tools, without.TemplateArguments, addGenerationPrompt).Text == text; }
            catch (TemplateException) { return false; }
        }
        SftExample Without(Func<ChatTurn, ChatTurn> strip) => example with { Turns = example.Turns.Select(strip).ToList() };
        string? dropped = example.Tools is not null && Same(example with { Tools = null }) ? "tools"
            : example.Turns.Any(t => t.ToolCalls is not null) && Same(Without(t => t with { ToolCalls = null })) ? "tool calls"
            : example.Turns.Any(t => t.Reasoning is not null) && Same(Without(t => t with { Reasoning = null })) ? "reasoning_content (write the reasoning inside content as <think>…</think> instead)"
            : null;
        if (dropped is not null) throw new ArgumentException($"the chat template {Name} does not render {dropped}");
    }

    /// <summary>Each piece tokenized on its own and given its mask value, so every mask entry belongs to exactly one token.</summary>
    private TokenizedExample Tokenize(IEnumerable<(string Text, bool Trained)> pieces, bool trainOnAll)
    {
        var ids = new List<int>();
        var mask = new List<bool>();
        foreach (var (text, trained) in pieces)
        {
            if (text.Length == 0) continue;
            int[] tokens = Tokenizer.Encode(text);
            ids.AddRange(tokens);
            mask.AddRange(Enumerable.Repeat(trained || trainOnAll, tokens.Length));
        }
        return new TokenizedExample([.. ids], [.. mask]);
    }

    private RenderedText Render(IReadOnlyList<ChatTurn> turns, IReadOnlyList<JsonObject>? tools, IReadOnlyDictionary<string, JsonNode?>? arguments, bool addGenerationPrompt)
    {
        var variables = new Dictionary<string, object?>
        {
            ["messages"] = turns.Select(Message).ToList(),
            ["tools"] = tools?.Select(t => TemplateJson.FromNode(t)).ToList(),
            ["documents"] = null,
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = _bosToken,
            ["eos_token"] = _eosToken,
        };
        foreach (var (key, value) in arguments ?? new Dictionary<string, JsonNode?>()) variables[key] = TemplateJson.FromNode(value);
        return _template.Render(variables, _now);
    }

    /// <summary>A turn as the message dict Hugging Face templates read: role, content, then reasoning_content, tool_calls
    /// (<c>{id, type: "function", function: {name, arguments}}</c>), tool_call_id and name where present.</summary>
    private static object? Message(ChatTurn turn)
    {
        var message = new OrderedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["role"] = turn.Role switch
            {
                ChatRole.System => "system",
                ChatRole.User => "user",
                ChatRole.Assistant => "assistant",
                ChatRole.Tool => "tool",
                _ => throw new ArgumentException("a plain-text turn cannot be part of a conversation"),
            },
            ["content"] = turn.Content,
        };
        if (turn.Reasoning is not null) message["reasoning_content"] = turn.Reasoning;
        if (turn.ToolCalls is not null)
            message["tool_calls"] = turn.ToolCalls.Select(call =>
            {
                var entry = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                if (call.Id is not null) entry["id"] = call.Id;
                entry["type"] = "function";
                entry["function"] = new OrderedDictionary<string, object?>(StringComparer.Ordinal) { ["name"] = call.Name, ["arguments"] = TemplateJson.FromNode(call.Arguments) };
                return (object?)entry;
            }).ToList();
        if (turn.ToolCallId is not null) message["tool_call_id"] = turn.ToolCallId;
        if (turn.Name is not null) message["name"] = turn.Name;
        return message;
    }

    /// <summary>The first special token after an assistant turn's content, else the EOS token.</summary>
    private (string Text, int Id) FindEndOfTurn()
    {
        string text = RenderText([new ChatTurn(ChatRole.User, "x"), new ChatTurn(ChatRole.Assistant, Probe)], addGenerationPrompt: false);
        string after = text[(text.LastIndexOf(Probe, StringComparison.Ordinal) + Probe.Length)..];
        var found = Tokenizer.SpecialTokens
            .Select(s => (s.Key, s.Value, At: after.IndexOf(s.Key, StringComparison.Ordinal)))
            .Where(s => s.At >= 0 && s.Key.Length > 0)
            .OrderBy(s => s.At).ThenByDescending(s => s.Key.Length)
            .Select(s => ((string, int)?)(s.Key, s.Value)).FirstOrDefault();
        if (found is { } token) return token;
        if (_eosToken is not null && Tokenizer.TokenToId(_eosToken) is { } eos) return (_eosToken, eos);
        throw new ArgumentException($"the chat template {Name} ends an assistant turn with no special token of the tokenizer (and no eos_token), so nothing marks where a turn stops");
    }
}
