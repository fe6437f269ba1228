using System.Text.Json.Nodes;
using Engine.Templates;
using Xunit;

namespace Engine.Tests.Templates;

/// <summary>The interpreter against Hugging Face's renders of nine real chat templates: the same variables in, the same
/// text out, byte for byte; a conversation the reference refused (raise_exception) is refused with the same message.</summary>
public class TemplateReferenceTests
{
    [Theory]
    [MemberData(nameof(ReferenceRenders.Names), MemberType = typeof(ReferenceRenders))]
    public void RendersAsHuggingFaceDoes(string name)
    {
        var template = Template.Parse(ReferenceRenders.Source(name), name + ".jinja");
        var expected = ReferenceRenders.Expected(name);
        int compared = 0;
        foreach (var (id, line) in ReferenceRenders.Conversations())
        {
            var messages = line["messages"]!.AsArray();
            int last = messages.Select((m, i) => (m, i)).Last(p => p.m!["role"]!.GetValue<string>() == "assistant").i;
            var prompt = new JsonArray(messages.Take(last).Select(m => m!.DeepClone()).ToArray());
            Check(template, name, id, "full", Variables(name, line, messages, addGenerationPrompt: false), expected[id]!["full"]!);
            Check(template, name, id, "prompt", Variables(name, line, prompt, addGenerationPrompt: true), expected[id]!["prompt"]!);
            compared += 2;
        }
        Assert.Equal(2 * ReferenceRenders.Conversations().Count, compared);
    }

    private static void Check(Template template, string name, string id, string kind, Dictionary<string, object?> variables, JsonNode expected)
    {
        var (text, error) = ReferenceRenders.Outcome(expected);
        if (text is not null)
        {
            string rendered = template.Render(variables, ReferenceRenders.Now).Text;
            int at = text.Zip(rendered).TakeWhile(p => p.First == p.Second).Count();
            Assert.True(text == rendered, $"{name} {id} {kind} differ at {at}: expected ...{text[Math.Max(0, at - 40)..Math.Min(text.Length, at + 40)]}... rendered ...{rendered[Math.Max(0, at - 40)..Math.Min(rendered.Length, at + 40)]}...");
        }
        else
        {
            var refused = Assert.Throws<TemplateException>(() => template.Render(variables, ReferenceRenders.Now));
            Assert.Equal(error, refused.Reason);
        }
    }

    private static Dictionary<string, object?> Variables(string name, JsonObject line, JsonArray messages, bool addGenerationPrompt)
    {
        var variables = new Dictionary<string, object?>
        {
            ["messages"] = TemplateJson.FromNode(messages),
            ["tools"] = TemplateJson.FromNode(line["tools"]),
            ["documents"] = null,
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = ReferenceRenders.Token(name, "bos_token"),
            ["eos_token"] = ReferenceRenders.Token(name, "eos_token"),
        };
        if (line["chat_template_kwargs"] is JsonObject kwargs)
            foreach (var (key, value) in kwargs) variables[key] = TemplateJson.FromNode(value);
        return variables;
    }
}
