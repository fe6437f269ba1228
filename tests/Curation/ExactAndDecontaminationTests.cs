using Engine.Curation;
using Xunit;
using static Engine.Tests.Curation.CurationTestRows;

namespace Engine.Tests.Curation;

public class ExactAndDecontaminationTests
{
    [Fact]
    public void Exact_duplicates_after_normalisation_keep_the_first()
    {
        var rows = new[]
        {
            Row("What is 2 plus 2?", "2 plus 2 is 4.", 1),
            Row("what is 2 plus 2", "2 PLUS 2  is 4", 2),
            Row("What is 2 plus 3?", "2 plus 3 is 5.", 3),
            Row("What is 2 plus 2?", "2 plus 2 is 5.", 4),
        };
        var result = DataFilter.Run(rows, new FilterOptions(NearDuplicates: false));
        Assert.Equal([1, 3, 4], result.Kept.Select(r => r.Line));
        var removal = Assert.Single(result.Removed);
        Assert.Equal(("exact-duplicate", 2), (removal.Stage, removal.Row.Line));
        Assert.Contains("test.jsonl:1", removal.Reason);
    }

    [Fact]
    public void A_shared_13_gram_contaminates()
    {
        string eval = "the quick brown fox jumps over the lazy dog while the farmer sleeps under the old oak tree";
        var decontamination = new Decontamination([eval]);
        Assert.True(decontamination.Contaminates("As they say, brown fox jumps over the lazy dog while the farmer sleeps under the old oak, or so."));
        // 12 of the 13 words in a row, then a different word: no shared 13-gram.
        Assert.False(decontamination.Contaminates("brown fox jumps over the lazy dog while the farmer sleeps under a different tree"));
        Assert.False(decontamination.Contaminates("something else entirely"));
    }

    [Fact]
    public void A_short_evaluation_text_contaminates_a_row_that_contains_it_whole()
    {
        var decontamination = new Decontamination(["What is 3 plus 4?\n3 plus 4 is 7."]);
        Assert.True(decontamination.Contaminates("Hi. What is 3 plus 4? 3 plus 4 is 7."));
        Assert.False(decontamination.Contaminates("What is 3 plus 4? 3 plus 4 is 8."));
    }

    [Fact]
    public void The_filter_drops_contaminated_rows_with_the_reason()
    {
        var rows = new[] { Row("What is 3 plus 4?", "3 plus 4 is 7.", 1), Row("What is 5 plus 4?", "5 plus 4 is 9.", 2) };
        var result = DataFilter.Run(rows, new FilterOptions(Decontamination: new Decontamination(["What is 3 plus 4?\n3 plus 4 is 7."])));
        Assert.Equal([2], result.Kept.Select(r => r.Line));
        Assert.Equal("decontamination", Assert.Single(result.Removed).Stage);
    }
}
