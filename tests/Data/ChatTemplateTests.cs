using Engine.Data;
using Engine.Templates;
using Engine.Tests.Tokenizers;
using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Data;

public class ChatTemplateTests
{
    // The tiny tokenizer (TinyTokenizers.Chat): bytes are themselves ('\n' 10, "user" 117 115 101 114, "ok" 111 107,
    // "assistant" 97 115 115 105 115 116 97 110 116), "hi" is merged to 263; <|im_start|> 300, <|im_end|> 301,
    // <|begin_of_text|> 302, <|start_header_id|> 303, <|end_header_id|> 304, <|eot_id|> 305.
    private static readonly int[] User = [117, 115, 101, 114], Assistant = [97, 115, 115, 105, 115, 116, 97, 110, 116];

    private static readonly SftExample TwoTurns = SftExample.Chat(new(ChatRole.User, "hi"), new(ChatRole.Assistant, "ok"));

    private static int[] Ints(params int[][] parts) => parts.SelectMany(p => p).ToArray();

    private static bool[] Mask(params (int Count, bool Trained)[] runs) => runs.SelectMany(r => Enumerable.Repeat(r.Trained, r.Count)).ToArray();

    [Fact]
    public void ChatMlIdsAndMask()
    {
        var rendered = ChatTemplate.ByName("chatml", TinyTokenizers.Chat()).Render(TwoTurns);
        int[] expected = Ints([300], User, [10], [263], [301], [10], [300], Assistant, [10], [111, 107], [301], [10]);
        Assert.Equal(expected, rendered.Ids);
        // user header 6, "hi" 1, <|im_end|> 1, "\n" 1, assistant header 11: not trained; "ok" and <|im_end|> trained; the final "\n" not.
        Assert.Equal(Mask((6 + 1 + 1 + 1 + 11, false), (3, true), (1, false)), rendered.Mask);
    }

    [Fact]
    public void Llama3IdsAndMask()
    {
        var rendered = ChatTemplate.ByName("llama3", TinyTokenizers.Chat()).Render(TwoTurns);
        int[] expected = Ints([302], [303], User, [304, 10, 10], [263], [305], [303], Assistant, [304, 10, 10], [111, 107], [305]);
        Assert.Equal(expected, rendered.Ids);
        // <|begin_of_text|> 1, user header 8, "hi" 1, <|eot_id|> 1, assistant header 13: not trained; "ok" <|eot_id|> trained.
        Assert.Equal(Mask((1 + 8 + 1 + 1 + 13, false), (3, true)), rendered.Mask);
    }

    [Fact]
    public void Llama3TrimsContentAsMetasTemplateDoes()
    {
        var template = ChatTemplate.ByName("llama3", TinyTokenizers.Chat());
        var padded = SftExample.Chat(new(ChatRole.User, " hi\n"), new(ChatRole.Assistant, "\nok "));
        Assert.Equal(template.Render(TwoTurns).Ids, template.Render(padded).Ids);
    }

    [Fact]
    public void SystemTurnsAreNotTrainedAndEveryAssistantTurnIs()
    {
        var template = ChatTemplate.ByName("chatml", TinyTokenizers.Chat());
        var example = SftExample.Chat(new(ChatRole.System, "s"), new(ChatRole.User, "u"), new(ChatRole.Assistant, "a"), new(ChatRole.User, "v"), new(ChatRole.Assistant, "b"));
        var rendered = template.Render(example);
        var trained = rendered.Ids.Where((_, i) => rendered.Mask[i]).ToArray();
        Assert.Equal([(int)'a', 301, (int)'b', 301], trained);
    }

    [Fact]
    public void TrainOnAllAndPlainText()
    {
        var chatMl = ChatTemplate.ByName("chatml", TinyTokenizers.Chat());
        var all = chatMl.Render(TwoTurns, trainOnAll: true);
        Assert.All(all.Mask, Assert.True);
        Assert.Equal(chatMl.Render(TwoTurns).Ids, all.Ids);

        var text = chatMl.Render(SftExample.PlainText("hi"));
        Assert.Equal([263, 301], text.Ids);
        Assert.Equal([true, true], text.Mask);
        var llamaText = ChatTemplate.ByName("llama3", TinyTokenizers.Chat()).Render(SftExample.PlainText("hi"));
        Assert.Equal([302, 263, 305], llamaText.Ids);
        Assert.Equal([false, true, true], llamaText.Mask);
    }

    [Theory]
    [InlineData("chatml")]
    [InlineData("llama3")]
    public void SegmentwiseTokensEqualTokenizingTheWholeText(string name)
    {
        var tokenizer = TinyTokenizers.Chat();
        var template = ChatTemplate.ByName(name, tokenizer);
        var example = SftExample.Chat(new(ChatRole.System, "Be kind."), new(ChatRole.User, "hello world, hi!"), new(ChatRole.Assistant, "hello 42 world"));
        var rendered = template.Render(example);
        Assert.Equal(tokenizer.Encode(tokenizer.Decode(rendered.Ids)), rendered.Ids);
    }

    [Fact]
    public void PromptEndsWithTheAssistantHeader()
    {
        var template = ChatTemplate.ByName("chatml", TinyTokenizers.Chat());
        int[] prompt = template.RenderPrompt([new ChatTurn(ChatRole.User, "hi")]);
        Assert.Equal(Ints([300], User, [10], [263], [301], [10], [300], Assistant, [10]), prompt);
        Assert.Equal(301, template.EndOfTurnId);
    }

    [Fact]
    public void TheModelsOwnTemplateIsRenderedAndBuiltInsAreChosenByName()
    {
        // A Qwen2-style template with its default system prompt: rendered as written, not replaced by the built-in ChatML.
        const string qwen = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nBe kind.<|im_end|>\\n' }}{% endif %}" +
                            "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        var tokenizer = TinyTokenizers.Chat();
        var config = TokenizerConfig.Empty with { ChatTemplate = qwen, ChatTemplateSource = "model/tokenizer_config.json" };
        var own = ChatTemplate.Resolve(null, config, tokenizer);
        Assert.Equal("model/tokenizer_config.json", own.Name);
        Assert.Equal("<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nok<|im_end|>\n", own.RenderText(TwoTurns, addGenerationPrompt: false));
        Assert.Equal(301, own.EndOfTurnId);
        // No generation blocks: the mask is found from the prompt's render, through the end-of-turn token.
        var rendered = own.Render(TwoTurns);
        Assert.Equal("ok<|im_end|>", tokenizer.Decode(rendered.Ids.Where((_, i) => rendered.Mask[i])));

        Assert.Equal("chatml", ChatTemplate.Resolve("chatml", config, tokenizer).Name);
        Assert.Contains("--chat-template", Assert.Throws<ArgumentException>(() => ChatTemplate.Resolve(null, TokenizerConfig.Empty, tokenizer)).Message);
        Assert.Contains("unknown chat template", Assert.Throws<ArgumentException>(() => ChatTemplate.ByName("alpaca", tokenizer)).Message);
        Assert.Contains("<|begin_of_text|>", Assert.Throws<ArgumentException>(() => ChatTemplate.ByName("llama3", new ByteChatTokenizer())).Message);
    }

    [Fact]
    public void TemplateErrorsNameTheTemplateAndLine()
    {
        var tokenizer = TinyTokenizers.Chat();
        var syntax = Assert.Throws<TemplateException>(() => ChatTemplate.FromJinja("{{ messages }}\n{% if %}", "m/tokenizer_config.json", tokenizer));
        Assert.StartsWith("m/tokenizer_config.json:2: ", syntax.Message);
        const string strict = "{% for message in messages %}{% if message.role == 'system' %}\n{{ raise_exception('System role not supported') }}{% endif %}" +
                              "{{ '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{% endfor %}";
        var template = ChatTemplate.FromJinja(strict, "strict.jinja", tokenizer);
        var example = new SftExample([new(ChatRole.System, "s"), new(ChatRole.User, "u"), new(ChatRole.Assistant, "a")], "train.jsonl:7");
        var refused = Assert.Throws<ArgumentException>(() => template.Render(example));
        Assert.Equal("train.jsonl:7: strict.jinja:2: System role not supported", refused.Message);
    }
}
