using System.Text.Json.Nodes;
using Engine.Templates;
using Xunit;

namespace Engine.Tests.Templates;

/// <summary>
/// One feature of the language per snippet (snippets.jsonl: whitespace control with trim_blocks/lstrip_blocks, loop
/// variables, loop filters/else/break, scoping and namespace(), macros, filters, tests, Python printing, string methods and
/// slicing, expressions, strftime_now, errors), rendered by the interpreter and compared with jinja2's render of the same
/// snippet with the same variables (expected/snippets.json, made by render_reference.py).
/// </summary>
public class TemplateSemanticsTests
{
    private static readonly JsonObject Expected = JsonNode.Parse(File.ReadAllText(Path.Combine(ReferenceRenders.Directory, "expected", "snippets.json")))!.AsObject();

    private static readonly JsonObject Variables = JsonNode.Parse(File.ReadAllText(Path.Combine(ReferenceRenders.Directory, "snippet_variables.json")))!.AsObject();

    public static TheoryData<string, string> Snippets()
    {
        var data = new TheoryData<string, string>();
        foreach (var line in File.ReadAllLines(Path.Combine(ReferenceRenders.Directory, "snippets.jsonl")))
        {
            var snippet = JsonNode.Parse(line)!;
            data.Add(snippet["id"]!.GetValue<string>(), snippet["template"]!.GetValue<string>());
        }
        return data;
    }

    private static Dictionary<string, object?> Values() => Variables.ToDictionary(kv => kv.Key, kv => TemplateJson.FromNode(kv.Value));

    [Theory]
    [MemberData(nameof(Snippets))]
    public void RendersAsJinjaDoes(string id, string source)
    {
        var (text, error) = ReferenceRenders.Outcome(Expected[id]!);
        var template = Template.Parse(source, id);
        if (text is not null) Assert.Equal(text, template.Render(Values(), ReferenceRenders.Now).Text);
        else Assert.Equal(error, Assert.Throws<TemplateException>(() => template.Render(Values(), ReferenceRenders.Now)).Reason);
    }

    [Fact]
    public void GenerationBlocksAreRecordedAsRanges()
    {
        var rendered = Template.Parse("{% for m in messages %}[{{ m.role }}]{% if m.role == 'assistant' %}{% generation %}{{ m.content }}!{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}", "g")
            .Render(Values());
        Assert.Equal("[user]hi[assistant]ok!", rendered.Text);
        Assert.Equal([(19, 22)], rendered.Generation);
    }

    [Theory]
    [InlineData("{% for x in y %}", "t:1: the template ends where {% else or endfor %} was expected")]
    [InlineData("a\n{{ 1 +\n}}", "t:3: unexpected '}}' in an expression")]
    [InlineData("{% include 'x' %}", "t:1: unknown or unsupported statement {% include %}")]
    [InlineData("a\nb\n{{ x | nofilter }}", "t:3: no filter named 'nofilter'")]
    [InlineData("{{ 'unclosed }}", "t:1: a string is never closed")]
    [InlineData("\n\n{% set ns = 1 %}{% set ns.a = 2 %}", "t:3: cannot assign attribute on non-namespace object 'ns'")]
    [InlineData("{{ 1 + 'a' }}", "t:1: unsupported operand types for +: int and str")]
    public void ErrorsNameTheTemplateAndLine(string source, string message)
    {
        var error = Record.Exception(() => Template.Parse(source, "t").Render(new Dictionary<string, object?>()));
        Assert.Equal(message, Assert.IsType<TemplateException>(error).Message);
    }
}
