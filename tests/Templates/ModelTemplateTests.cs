using Engine.Data;
using Engine.Templates;
using Engine.Tests.Tokenizers;
using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Templates;

/// <summary>
/// The real chat templates through the engine's own path: conversations.jsonl read by <see cref="SftJsonl"/> (tool calls,
/// tool turns, tools, reasoning_content, chat_template_kwargs), rendered by <see cref="ChatTemplate"/> to the reference text;
/// and the loss masks those renders give: each assistant turn's reasoning, content, tool calls and end-of-turn token.
/// </summary>
public class ModelTemplateTests
{
    /// <summary>A byte-level tokenizer knowing every special token of the nine templates as one id.</summary>
    private static readonly ITextTokenizer Tokenizer = HfTokenizerJson.Parse(TinyTokenizers.Json(TinyTokenizers.HelloMerges,
        new[]
        {
            "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>",
            "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]",
            "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>",
            "<|tool|>", "<|/tool|>",
        }.Select((token, i) => (token, 300 + i)).ToArray()));

    private static ChatTemplate Load(string name) => ChatTemplate.FromJinja(ReferenceRenders.Source(name), name + ".jinja", Tokenizer,
        ReferenceRenders.Token(name, "bos_token"), ReferenceRenders.Token(name, "eos_token"), ReferenceRenders.Now);

    private static SftExample Example(string id) =>
        SftJsonl.Read(ReferenceRenders.ConversationsPath)[ReferenceRenders.Conversations().ToList().FindIndex(c => c.Id == id)];

    [Theory]
    [MemberData(nameof(ReferenceRenders.Names), MemberType = typeof(ReferenceRenders))]
    public void DataRendersAsHuggingFaceDoes(string name)
    {
        var template = Load(name);
        var examples = SftJsonl.Read(ReferenceRenders.ConversationsPath);
        var expected = ReferenceRenders.Expected(name);
        var ids = ReferenceRenders.Conversations().Select(c => c.Id).ToList();
        for (int i = 0; i < examples.Count; i++)
        {
            var example = examples[i];
            int last = example.Turns.ToList().FindLastIndex(t => t.Role == ChatRole.Assistant);
            var prompt = example with { Turns = example.Turns.Take(last).ToList() };
            Check(template, example, false, expected[ids[i]]!["full"]!, $"{name} {ids[i]} full");
            Check(template, prompt, true, expected[ids[i]]!["prompt"]!, $"{name} {ids[i]} prompt");
        }
    }

    /// <summary>The reference text, or the reference's refusal; an example whose tools, tool calls or reasoning the engine refuses
    /// as dropped must be one whose reference render is exactly the render without them.</summary>
    private static void Check(ChatTemplate template, SftExample example, bool addGenerationPrompt, System.Text.Json.Nodes.JsonNode expected, string what)
    {
        var (text, error) = ReferenceRenders.Outcome(expected);
        if (text is null)
        {
            Assert.Equal(error, Assert.Throws<TemplateException>(() => template.RenderText(example, addGenerationPrompt)).Reason);
            return;
        }
        while (true)
        {
            try
            {
                Assert.True(text == template.RenderText(example, addGenerationPrompt), what);
                return;
            }
            catch (ArgumentException refused) when (refused.Message.Contains("does not render", StringComparison.Ordinal))
            {
                example = refused.Message.Contains("does not render tools") ? example with { Tools = null }
                    : example with { Turns = example.Turns.Select(t => refused.Message.Contains("tool calls") ? t with { ToolCalls = null } : t with { Reasoning = null }).ToList() };
            }
        }
    }

    /// <summary>The text of each run of trained tokens.</summary>
    private static List<string> Trained(TokenizedExample rendered)
    {
        var runs = new List<string>();
        for (int i = 0; i < rendered.Length;)
        {
            if (!rendered.Mask[i]) { i++; continue; }
            int start = i;
            while (i < rendered.Length && rendered.Mask[i]) i++;
            runs.Add(Tokenizer.Decode(rendered.Ids[start..i]));
        }
        return runs;
    }

    [Fact]
    public void Qwen3TrainsTheLastReasoningAndEveryAnswer()
    {
        // Qwen3 drops the reasoning of turns before the last user message; what it keeps of each turn is trained.
        var rendered = Load("qwen3").Render(Example("multi-turn-reasoning"));
        Assert.Equal(["42.<|im_end|>", "<think>\n42 + 6 = 48.\n</think>\n\n48.<|im_end|>"], Trained(rendered));
        Assert.Equal(Tokenizer.Encode(Tokenizer.Decode(rendered.Ids)), rendered.Ids);
    }

    [Fact]
    public void ToolCallsAreTrainedAndToolResultsAreNot()
    {
        Assert.Equal(
            ["<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\", \"unit\": \"celsius\"}}\n</tool_call><|im_end|>",
             "<think>\n\n</think>\n\nIt is 21.5 °C and clear in Zürich.<|im_end|>"],
            Trained(Load("qwen3").Render(Example("tools"))));
        Assert.Equal(
            ["{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Zürich\", \"unit\": \"celsius\"}}<|eot_id|>", "It is 21.5 °C and clear in Zürich.<|eot_id|>"],
            Trained(Load("llama-3.1").Render(Example("tools"))));
        Assert.Equal(
            ["[TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 17, \"b\": 25}, \"id\": \"call00002\"}]</s>", " 17 + 25 = 42.</s>"],
            Trained(Load("mistral-7b-v0.3").Render(Example("tool-calls-no-tools-field"))));
    }

    [Fact]
    public void ThinkingCanBeSwitchedOffByTemplateArguments()
    {
        // enable_thinking=false puts the empty think block into the prompt, so it is not trained.
        var qwen3 = Load("qwen3");
        var example = Example("no-thinking");
        Assert.Equal(["Hi!<|im_end|>"], Trained(qwen3.Render(example)));
        Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n", qwen3.RenderText(example with { Turns = example.Turns.Take(1).ToList() }, addGenerationPrompt: true));
    }

    [Fact]
    public void EveryTemplateFindsItsEndOfTurnToken()
    {
        var expected = new Dictionary<string, string>
        {
            ["gemma-3"] = "<end_of_turn>", ["llama-3.1"] = "<|eot_id|>", ["llama-3.2"] = "<|eot_id|>", ["mistral-7b-v0.3"] = "</s>",
            ["phi-3"] = "<|end|>", ["phi-4-mini"] = "<|end|>", ["qwen2.5"] = "<|im_end|>", ["qwen3"] = "<|im_end|>", ["smollm2"] = "<|im_end|>",
        };
        foreach (var name in ReferenceRenders.TemplateNames)
        {
            var template = Load(name);
            Assert.Equal(expected[name], template.EndOfTurn);
            Assert.Equal(Tokenizer.TokenToId(expected[name]), template.EndOfTurnId);
        }
        Assert.Equal("<bos>", Load("gemma-3").Begin);
        Assert.Equal("", Load("qwen3").Begin);
    }

    [Fact]
    public void GenerationBlocksDecideTheMaskWhenPresent()
    {
        // Only the content is inside the block, not the end-of-turn token: the mask follows the block, not the prefixes.
        const string source = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' }}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}" +
                              "{% else %}{{ m.content }}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}";
        var template = ChatTemplate.FromJinja(source, "blocks.jinja", Tokenizer);
        var example = SftExample.Chat(new(ChatRole.User, "hi"), new(ChatRole.Assistant, "hello"), new(ChatRole.User, "hi"), new(ChatRole.Assistant, "world"));
        Assert.Equal(["hello", "world"], Trained(template.Render(example)));
    }

    [Fact]
    public void ATemplateThatRewritesEarlierTurnsIsRefusedWithoutBlocks()
    {
        // DeepSeek-R1 style: the generation prompt opens <think>, which the finished turn does not have.
        const string source = "{% for m in messages %}{% if m.role == 'user' %}{{ '<|im_start|>' + m.content }}{% else %}{{ '<|im_start|>' + m.content + '<|im_end|>' }}{% endif %}{% endfor %}" +
                              "{% if add_generation_prompt %}{{ '<|im_start|><think>\\n' }}{% endif %}";
        var template = ChatTemplate.FromJinja(source, "r1.jinja", Tokenizer);
        var refused = Assert.Throws<ArgumentException>(() => template.Render(new SftExample([new(ChatRole.User, "hi"), new(ChatRole.Assistant, "ok")], "data.jsonl:3")));
        Assert.StartsWith("data.jsonl:3: the chat template r1.jinja renders the conversation before assistant turn 1 differently", refused.Message);
    }

    [Fact]
    public void WhatATemplateWouldDropIsRefused()
    {
        var phi3 = Load("phi-3");
        Assert.Contains("does not render tools", Assert.Throws<ArgumentException>(() => phi3.Render(Example("tools"))).Message);
        Assert.Contains("does not render reasoning_content", Assert.Throws<ArgumentException>(() => phi3.Render(Example("reasoning"))).Message);
        Assert.Contains("does not render tool calls", Assert.Throws<ArgumentException>(() => phi3.Render(Example("tool-calls-no-tools-field"))).Message);
        // Reasoning inside the content needs no support from the template.
        Assert.Equal(["<think>\nNo prime up to 9 divides 97.\n</think>\n\nYes, 97 is prime.<|end|>"], Trained(phi3.Render(Example("think-inline"))));
    }
}
