using Engine.Tokenizers;

namespace Engine.Data;

public enum ChatTemplateKind { ChatMl, Llama3 }

/// <summary>Token ids and the per-token loss mask: true where the token is one the model learns to produce.</summary>
public sealed record TokenizedExample(int[] Ids, bool[] Mask)
{
    public int Length => Ids.Length;
}

/// <summary>
/// Renders conversations into token ids with a loss mask, segment by segment (header, content, end of turn) so each
/// mask entry belongs to exactly one token. The mask is 1 on every assistant turn's content and its end-of-turn token,
/// 0 on system and user turns and on all role headers; plain-text examples train on every token.
/// <list type="bullet">
/// <item>ChatML (Qwen2): <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c> per turn; generation prompt <c>&lt;|im_start|&gt;assistant\n</c>.</item>
/// <item>Llama-3: <c>&lt;|begin_of_text|&gt;</c>, then <c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt;</c> per turn, content trimmed as Meta's template does.</item>
/// </list>
/// No default system prompt is inserted.
/// </summary>
public sealed class ChatTemplate
{
    public static IReadOnlyList<string> Names { get; } = ["chatml", "llama3"];

    private readonly string _begin, _end, _separator;
    private readonly Func<string, string> _header;

    private ChatTemplate(ChatTemplateKind kind, ITextTokenizer tokenizer)
    {
        Kind = kind;
        Tokenizer = tokenizer;
        (_begin, _end, _separator, _header) = kind switch
        {
            ChatTemplateKind.ChatMl => ("", "<|im_end|>", "\n", (Func<string, string>)(role => $"<|im_start|>{role}\n")),
            _ => ("<|begin_of_text|>", "<|eot_id|>", "", role => $"<|start_header_id|>{role}<|end_header_id|>\n\n"),
        };
        string[] specials = kind == ChatTemplateKind.ChatMl
            ? ["<|im_start|>", "<|im_end|>"]
            : ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"];
        foreach (string special in specials)
            if (tokenizer.TokenToId(special) is not { } id || tokenizer.Encode(special) is not [var encoded] || encoded != id)
                throw new ArgumentException($"the {Name(kind)} chat template needs {special} as one token, and this tokenizer has none");
        EndOfTurnId = tokenizer.TokenToId(_end)!.Value;
    }

    public ChatTemplateKind Kind { get; }

    public ITextTokenizer Tokenizer { get; }

    /// <summary>&lt;|im_end|&gt; or &lt;|eot_id|&gt;: ends every turn, and generation.</summary>
    public int EndOfTurnId { get; }

    /// <summary>"chatml" or "llama3" (as given to --chat-template).</summary>
    public static ChatTemplate ByName(string name, ITextTokenizer tokenizer) => name.ToLowerInvariant() switch
    {
        "chatml" => new ChatTemplate(ChatTemplateKind.ChatMl, tokenizer),
        "llama3" or "llama-3" => new ChatTemplate(ChatTemplateKind.Llama3, tokenizer),
        _ => throw new ArgumentException($"unknown chat template \"{name}\" (expected {string.Join(" or ", Names)})"),
    };

    /// <summary>Which known template a tokenizer_config.json chat_template (Jinja text) is, by its distinctive tokens; null when neither.</summary>
    public static ChatTemplateKind? Recognise(string? jinja)
    {
        if (jinja is null) return null;
        if (jinja.Contains("<|im_start|>", StringComparison.Ordinal) && jinja.Contains("<|im_end|>", StringComparison.Ordinal)) return ChatTemplateKind.ChatMl;
        if (jinja.Contains("<|start_header_id|>", StringComparison.Ordinal) && jinja.Contains("<|end_header_id|>", StringComparison.Ordinal)
            && jinja.Contains("<|eot_id|>", StringComparison.Ordinal)) return ChatTemplateKind.Llama3;
        return null;
    }

    /// <summary>The named template when a name is given, else the model's own when it is recognisably ChatML or Llama-3; otherwise a clear error.</summary>
    public static ChatTemplate Resolve(string? name, string? modelTemplate, ITextTokenizer tokenizer)
    {
        if (name is not null) return ByName(name, tokenizer);
        if (modelTemplate is null)
            throw new ArgumentException($"the model has no chat_template in tokenizer_config.json: choose one with --chat-template {string.Join("|", Names)}");
        return Recognise(modelTemplate) is { } kind
            ? new ChatTemplate(kind, tokenizer)
            : throw new ArgumentException($"the model's chat_template is neither ChatML nor Llama-3: choose one with --chat-template {string.Join("|", Names)}");
    }

    /// <summary>Ids and loss mask of a whole example. <paramref name="trainOnAll"/> sets every mask entry (headers and prompts too).</summary>
    public TokenizedExample Render(SftExample example, bool trainOnAll = false)
    {
        var ids = new List<int>();
        var mask = new List<bool>();
        void Add(string text, bool trained)
        {
            int[] tokens = Tokenizer.Encode(text);
            ids.AddRange(tokens);
            mask.AddRange(Enumerable.Repeat(trained || trainOnAll, tokens.Length));
        }

        Add(_begin, false);
        if (example.IsPlainText)
        {
            Add(example.Turns[0].Content, true);
            Add(_end, true);
            return new TokenizedExample([.. ids], [.. mask]);
        }
        foreach (var turn in example.Turns)
        {
            bool assistant = turn.Role == ChatRole.Assistant;
            Add(_header(RoleName(turn.Role, example.Origin)), false);
            Add(Content(turn.Content), assistant);
            Add(_end, assistant);
            Add(_separator, false);
        }
        return new TokenizedExample([.. ids], [.. mask]);
    }

    /// <summary>The ids of the conversation so far followed by the assistant header: what a model continues to answer.</summary>
    public int[] RenderPrompt(IReadOnlyList<ChatTurn> turns)
    {
        var ids = new List<int>(Tokenizer.Encode(_begin));
        foreach (var turn in turns)
        {
            ids.AddRange(Tokenizer.Encode(_header(RoleName(turn.Role, ""))));
            ids.AddRange(Tokenizer.Encode(Content(turn.Content)));
            ids.AddRange(Tokenizer.Encode(_end + _separator));
        }
        ids.AddRange(Tokenizer.Encode(_header("assistant")));
        return [.. ids];
    }

    private string Content(string content) => Kind == ChatTemplateKind.Llama3 ? content.Trim() : content;

    private static string RoleName(ChatRole role, string origin) => role switch
    {
        ChatRole.System => "system",
        ChatRole.User => "user",
        ChatRole.Assistant => "assistant",
        _ => throw new ArgumentException($"{origin}: a plain-text turn cannot be part of a conversation"),
    };

    private static string Name(ChatTemplateKind kind) => kind == ChatTemplateKind.ChatMl ? "ChatML" : "Llama-3";
}
