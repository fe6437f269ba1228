using Engine.Checks;
using Engine.Data;
using Xunit;

namespace Engine.Tests.Checks;

/// <summary>IFEval's strict and loose scoring, and prompt- and instruction-level accuracy.</summary>
public class IfEvalTests
{
    [Fact]
    public void LooseVariantsAreTheReferencesEight()
    {
        var variants = IfEval.LooseVariants("Sure!\n**HELLO**\nBye");
        Assert.Equal(["Sure!\n**HELLO**\nBye", "Sure!\nHELLO\nBye", "**HELLO**\nBye", "Sure!\n**HELLO**", "**HELLO**", "HELLO\nBye", "Sure!\nHELLO", "HELLO"], variants);
    }

    [Theory]
    // a chatty first line hides the all-capitals answer: strict fails, loose (first line dropped) passes
    [InlineData("change_case:english_capital", "", "Sure, here it is:\nTHE SKY IS BLUE")]
    // a closing remark after the required ending
    [InlineData("startend:end_checker", """{"end_phrase": "Goodbye."}""", "It is blue. Goodbye.\nHope that helps!")]
    // markdown asterisks around a quoted answer
    [InlineData("startend:quotation", "", "**\"The sky is blue\"**")]
    // the first line repeats the instruction, the rest starts with the prompt
    [InlineData("combination:repeat_prompt", """{"prompt_to_repeat": "What colour is the sky?"}""", "Answer:\nWhat colour is the sky? Blue.")]
    public void LooseAcceptsWhatStrictRejects(string id, string kwargs, string response)
    {
        var outcome = IfEval.Evaluate([Instructions.Create(id, kwargs)], response);
        Assert.False(outcome.Strict[0]);
        Assert.True(outcome.Loose[0]);
    }

    [Fact]
    public void AnEmptyResponseFollowsNothingEvenWhenTheCheckWouldPass()
    {
        var outcome = IfEval.Evaluate([Instructions.Create("punctuation:no_comma")], "  \n ");
        Assert.False(outcome.Strict[0]);
        Assert.False(outcome.Loose[0]);
        Assert.Equal("empty response", outcome.StrictVerdicts[0].Reason);
    }

    /// <summary>Three prompts with 2, 1 and 3 instructions: prompt-level counts prompts with every instruction followed, instruction-level
    /// counts instructions, per-id averages each id's instructions.</summary>
    [Fact]
    public void PromptAndInstructionLevelArithmetic()
    {
        Check comma = Instructions.Create("punctuation:no_comma"), lower = Instructions.Create("change_case:english_lowercase");
        Check words = Instructions.Create("length_constraints:number_words", """{"num_words": 3, "relation": "at least"}""");
        var outcomes = new[]
        {
            IfEval.Evaluate([comma, lower], "all lower no commas"),          // 2 of 2
            IfEval.Evaluate([comma], "one, two"),                              // 0 of 1
            IfEval.Evaluate([comma, lower, words], "Two words"),             // comma yes, lower no, words no: 1 of 3
        };
        var strict = IfEval.Accuracy(outcomes, loose: false);
        Assert.Equal(1.0 / 3, strict.PromptLevel, 12);
        Assert.Equal(3.0 / 6, strict.InstructionLevel, 12);
        Assert.Equal(2.0 / 3, strict.PerInstruction["punctuation:no_comma"], 12);
        Assert.Equal(0.5, strict.PerInstruction["change_case:english_lowercase"], 12);
        Assert.Equal(0.0, strict.PerInstruction["length_constraints:number_words"], 12);
    }

    [Fact]
    public void ReadsGooglesFilesAndMatchesResponsesByPrompt()
    {
        string dir = Directory.CreateTempSubdirectory().FullName;
        string data = Path.Combine(dir, "input_data.jsonl"), responses = Path.Combine(dir, "responses.jsonl");
        File.WriteAllLines(data,
        [
            """{"key": 1, "prompt": "Say hi without commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}""",
            """{"key": 2, "prompt": "Shout.", "instruction_id_list": ["change_case:english_capital", "length_constraints:number_words"], "kwargs": [{"num_words": null}, {"num_words": 2, "relation": "at least"}]}""",
        ]);
        File.WriteAllLines(responses, ["""{"prompt": "Shout.", "response": "HELLO THERE"}""", """{"prompt": "Say hi without commas.", "response": "hi, you"}"""]);
        var items = IfEvalData.ReadPrompts(data);
        var answers = IfEvalData.ReadResponses(responses, items, "input_data.jsonl");
        Assert.Equal(["hi, you", "HELLO THERE"], answers);
        var outcomes = items.Zip(answers, (item, r) => IfEval.Evaluate(item.Instructions, r)).ToList();
        Assert.Equal(0.5, IfEval.Accuracy(outcomes, loose: false).PromptLevel);
        Assert.Equal(2.0 / 3, IfEval.Accuracy(outcomes, loose: false).InstructionLevel, 12);

        File.WriteAllLines(responses, ["""{"prompt": "Shout.", "response": "HI"}""", """{"prompt": "Whisper.", "response": "hi"}"""]);
        var e = Assert.Throws<DataFormatException>(() => IfEvalData.ReadResponses(responses, items, "input_data.jsonl"));
        Assert.StartsWith("responses.jsonl:2: its prompt is not in input_data.jsonl", e.Message);

        File.WriteAllLines(responses, ["""{"prompt": "Shout.", "response": "HI"}"""]);
        e = Assert.Throws<DataFormatException>(() => IfEvalData.ReadResponses(responses, items, "input_data.jsonl"));
        Assert.Contains("no response to the prompt of key 1", e.Message);

        File.WriteAllLines(data, ["""{"key": 7, "prompt": "x", "instruction_id_list": ["length_constraints:number_words"], "kwargs": [{"num_words": "many", "relation": "at least"}]}"""]);
        e = Assert.Throws<DataFormatException>(() => IfEvalData.ReadPrompts(data));
        Assert.Equal("input_data.jsonl:1: key 7, instruction 1: length_constraints:number_words: kwarg 'num_words' is \"many\", expected a whole number ≥ 0", e.Message);
    }
}
