using Engine.Checks;
using Xunit;

namespace Engine.Tests.Checks;

/// <summary>Every IFEval instruction on a response that follows it and one that does not, with the reference implementation's semantics.</summary>
public class InstructionsTests
{
    private static bool Follows(string id, string kwargs, string response) => Instructions.Create(id, kwargs).Evaluate(response).Passed;

    [Theory]
    // keywords
    [InlineData("keywords:existence", """{"keywords": ["river", "Stone"]}""", "A STONE fell into the River.", "A stone fell into the lake.")]
    [InlineData("keywords:frequency", """{"keyword": "cat", "frequency": 3, "relation": "at least"}""", "Cat, cat and catalogue.", "One cat, two cats.")]
    [InlineData("keywords:frequency", """{"keyword": "cat", "frequency": 2, "relation": "less than"}""", "One cat here.", "Cat and cat.")]
    [InlineData("keywords:forbidden_words", """{"forbidden_words": ["bad", "awful"]}""", "Badly done but not terrible.", "That was AWFUL.")]
    [InlineData("keywords:letter_frequency", """{"letter": "Z", "let_frequency": 3, "let_relation": "at least"}""", "Zig zag zoo", "zig zag")]
    [InlineData("keywords:letter_frequency", """{"letter": "a", "let_frequency": 2, "let_relation": "less than"}""", "A dog.", "A cat sat.")]
    // length
    [InlineData("length_constraints:number_words", """{"num_words": 4, "relation": "at least"}""", "one two, three-four", "one two three")]
    [InlineData("length_constraints:number_words", """{"num_words": 3, "relation": "less than"}""", "one two", "one two three")]
    [InlineData("length_constraints:number_sentences", """{"num_sentences": 2, "relation": "at least"}""", "It rains. Dr. Smith stays in.", "Dr. Smith stays in.")]
    [InlineData("length_constraints:number_sentences", """{"num_sentences": 2, "relation": "less than"}""", "Pi is 3.14 exactly!", "Yes. No.")]
    [InlineData("length_constraints:number_paragraphs", """{"num_paragraphs": 2}""", "First part.\n***\nSecond part.", "Only one part.")]
    [InlineData("length_constraints:number_paragraphs", """{"num_paragraphs": 2}""", "*** \nFirst.\n***\nSecond.\n***", "First.\n***\n***\nSecond.")]
    [InlineData("length_constraints:nth_paragraph_first_word", """{"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "Then"}""", "Intro.\n\n\"Then, the end.", "Intro.\n\nAfter that, the end.")]
    // content
    [InlineData("detectable_content:number_placeholders", """{"num_placeholders": 2}""", "Dear [name], at [address].", "Dear [name], at home.")]
    [InlineData("detectable_content:postscript", """{"postscript_marker": "P.S."}""", "Bye.\np. s. see you", "Bye. PS see you")]
    [InlineData("detectable_content:postscript", """{"postscript_marker": "P.P.S"}""", "Bye.\nP.P.S. one more", "Bye.\nP.S. one more")]
    // format
    [InlineData("detectable_format:json_format", "", "```json\n{\"a\": [1, 2]}\n```", "{\"a\": [1, 2]")]
    [InlineData("detectable_format:number_bullet_lists", """{"num_bullets": 3}""", "Intro\n* one\n* two\n- three", "* one\n* two\n**bold**")]
    [InlineData("detectable_format:title", "", "<<A Poem of Joy>>\nRoses are red.", "<<  >> no title\nand <<broken\n>>")]
    [InlineData("detectable_format:number_highlighted_sections", """{"num_highlights": 2}""", "Some *key part* and **bold bit**.", "Only *one* and * * blank.")]
    [InlineData("detectable_format:multiple_sections", """{"section_spliter": "Section", "num_sections": 2}""", "Section 1\nhello\nSection 2\nworld", "Section 1\nhello only")]
    [InlineData("detectable_format:constrained_response", "", "My answer is maybe.", "My answer is perhaps.")]
    // combination, start/end
    [InlineData("combination:two_responses", "", "Red.\n******\nBlue.", "Red.\n******\nRed.")]
    [InlineData("combination:repeat_prompt", """{"prompt_to_repeat": "Name a colour."}""", "  name a colour. Red.", "Red. Name a colour.")]
    [InlineData("startend:end_checker", """{"end_phrase": "Any other questions?"}""", "Done. any other questions?\"", "Any other questions? Yes.")]
    [InlineData("startend:quotation", "", "  \"Hello there\"  ", "\"Hello there")]
    // case, punctuation
    [InlineData("change_case:english_capital", "", "HELLO, WORLD 42!", "HELLO, World")]
    [InlineData("change_case:english_lowercase", "", "hello, world 42!", "hello, World")]
    [InlineData("change_case:capital_word_frequency", """{"capital_frequency": 2, "capital_relation": "at least"}""", "The U.S.A and WELL-KNOWN cases.", "Only ONE here, A1b not.")]
    [InlineData("change_case:capital_word_frequency", """{"capital_frequency": 2, "capital_relation": "less than"}""", "Only ONE here.", "TWO CAPS here.")]
    [InlineData("punctuation:no_comma", "", "No commas at all.", "Well, yes.")]
    public void PassesWhenFollowedAndFailsWhenNot(string id, string kwargs, string follows, string breaks)
    {
        Assert.True(Follows(id, kwargs, follows), $"{id} should pass: {Instructions.Create(id, kwargs).Evaluate(follows).Reason}");
        Assert.False(Follows(id, kwargs, breaks), $"{id} should fail: {Instructions.Create(id, kwargs).Evaluate(breaks).Reason}");
    }

    [Fact]
    public void EveryListedInstructionTypeIsKnown()
    {
        string[] required =
        [
            "keywords:existence", "keywords:frequency", "keywords:forbidden_words", "keywords:letter_frequency", "length_constraints:number_words",
            "length_constraints:number_sentences", "length_constraints:number_paragraphs", "detectable_format:json_format", "detectable_format:number_bullet_lists",
            "detectable_format:title", "detectable_format:number_highlighted_sections", "detectable_content:postscript", "detectable_content:number_placeholders",
            "change_case:english_capital", "change_case:english_lowercase", "change_case:capital_word_frequency", "punctuation:no_comma", "startend:end_checker",
            "startend:quotation", "combination:repeat_prompt",
        ];
        Assert.Empty(required.Except(Instructions.Ids));
    }

    [Fact]
    public void VerdictStatesWhatWasCounted()
    {
        var verdict = Instructions.Create("length_constraints:number_words", """{"num_words": 5, "relation": "at least"}""").Evaluate("two words");
        Assert.Equal(new Verdict(false, "2 words, expected at least 5"), verdict);
    }

    [Theory]
    [InlineData("keywords:nonsense", "", "unknown instruction id 'keywords:nonsense'")]
    [InlineData("language:response_language", """{"language": "en"}""", "needs a language detector")]
    [InlineData("length_constraints:number_words", """{"num_words": "ten", "relation": "at least"}""", "kwarg 'num_words' is \"ten\", expected a whole number")]
    [InlineData("length_constraints:number_words", """{"num_words": 10}""", "kwarg 'relation' is missing")]
    [InlineData("length_constraints:number_words", """{"num_words": 10, "relation": "at most"}""", "expected \"less than\" or \"at least\"")]
    [InlineData("punctuation:no_comma", """{"num_words": 10}""", "unknown kwarg 'num_words' (it takes none)")]
    [InlineData("keywords:existence", """{"keywords": [1, 2]}""", "expected a list of strings")]
    [InlineData("keywords:letter_frequency", """{"letter": "ab", "let_frequency": 1, "let_relation": "at least"}""", "expected one letter")]
    public void BadKwargsAreNamed(string id, string kwargs, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => Instructions.Create(id, kwargs));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void NullKwargsReadAsAbsentAsInHuggingFacesCopy()
    {
        var check = Instructions.Create("punctuation:no_comma", """{"num_words": null, "relation": null}""");
        Assert.True(check.Evaluate("fine").Passed);
    }
}
