using Engine.Curation;
using Xunit;
using static Engine.Tests.Curation.CurationTestRows;

namespace Engine.Tests.Curation;

public class MinHashTests
{
    /// <summary>The exact Jaccard similarity of two texts' 5-gram hash sets (the reference the estimate is checked against).</summary>
    private static double Jaccard(string a, string b)
    {
        var x = TextFeatures.NGramHashes(TextFeatures.Words(a), 5).ToHashSet();
        var y = TextFeatures.NGramHashes(TextFeatures.Words(b), 5).ToHashSet();
        return (double)x.Intersect(y).Count() / x.Union(y).Count();
    }

    /// <summary>Pairs sharing a prefix of 0..100 of their 100 words: Jaccard from 0 to 1.</summary>
    private static IEnumerable<(string A, string B)> KnownPairs()
    {
        for (int shared = 0; shared <= 100; shared += 10)
        {
            string prefix = RandomText(shared, seed: 7);
            yield return ((prefix + " " + RandomText(100 - shared, seed: 100 + shared)).Trim(), (prefix + " " + RandomText(100 - shared, seed: 200 + shared)).Trim());
        }
    }

    [Fact]
    public void Estimates_jaccard_within_four_standard_errors_with_datatrove_defaults()
    {
        var minHash = new MinHash();
        Assert.Equal(112, minHash.Length);
        foreach (var (a, b) in KnownPairs())
        {
            double exact = Jaccard(a, b);
            double estimate = MinHash.EstimateJaccard(minHash.Signature(TextFeatures.Words(a)), minHash.Signature(TextFeatures.Words(b)));
            double standardError = Math.Sqrt(Math.Max(exact * (1 - exact), 0.01) / minHash.Length);
            Assert.True(Math.Abs(estimate - exact) <= 4 * standardError, $"exact {exact:F3}, estimated {estimate:F3}");
        }
    }

    [Fact]
    public void Estimate_tightens_with_more_hashes()
    {
        var minHash = new MinHash(bands: 128, rowsPerBand: 8, seed: 3);
        var errors = KnownPairs().Select(p => Math.Abs(Jaccard(p.A, p.B)
            - MinHash.EstimateJaccard(minHash.Signature(TextFeatures.Words(p.A)), minHash.Signature(TextFeatures.Words(p.B))))).ToList();
        Assert.True(errors.Average() < 0.02, $"mean error {errors.Average():F4}");
        Assert.True(errors.Max() < 0.06, $"largest error {errors.Max():F4}");
    }

    [Fact]
    public void Signature_is_each_functions_minimum_over_the_5_grams()
    {
        // 7 functions: one vector of 4 and 3 left for the scalar loop; texts of 0, 3 (< 5) and 40 words.
        var minHash = new MinHash(bands: 1, rowsPerBand: 7, seed: 5);
        foreach (string text in new[] { "", "one two three", RandomText(40, seed: 9) })
        {
            var grams = TextFeatures.NGramHashes(TextFeatures.Words(text), 5);
            var expected = Enumerable.Range(0, minHash.Length).Select(i => grams.Select(g => minHash.Hash(i, g)).DefaultIfEmpty(ulong.MaxValue).Min());
            Assert.Equal(expected, minHash.Signature(TextFeatures.Words(text)));
        }
    }

    [Fact]
    public void Identical_word_sequences_have_equal_signatures_whatever_the_case_and_punctuation()
    {
        var minHash = new MinHash();
        Assert.Equal(minHash.Signature(TextFeatures.Words("The cat sat on the mat, and then it slept.")),
                     minHash.Signature(TextFeatures.Words("the CAT sat on   the mat and then it slept")));
    }

    [Fact]
    public void Bands_give_datatrove_threshold_and_recall()
    {
        var minHash = new MinHash();
        Assert.InRange(minHash.CandidateProbability(0.8), 0.91, 0.93);
        Assert.Equal(0.72, Math.Pow(1.0 / minHash.Bands, 1.0 / minHash.RowsPerBand), 2);   // the usual threshold estimate (1/b)^(1/r)
        Assert.InRange(minHash.CandidateProbability(0.685), 0.49, 0.51);                   // where candidates become likelier than not
        Assert.True(minHash.CandidateProbability(0.3) < 0.001);
    }

    [Fact]
    public void Finds_planted_near_duplicates_and_nothing_else()
    {
        var rows = new List<Engine.Curation.CurationRow>();
        var planted = new HashSet<int>();
        for (int i = 0; i < 300; i++)
        {
            string text = RandomText(40, seed: 1000 + i);
            rows.Add(Row($"question {i}", text, line: rows.Count + 1));
            if (i % 15 == 0)
            {
                // A copy with its last word changed and different case and punctuation: Jaccard 35/37 ≈ 0.95 over 5-grams.
                string near = string.Join(" ", text.Split(' ')[..^1]).ToUpperInvariant() + ", changed!";
                planted.Add(rows.Count);
                rows.Add(Row($"question {i}", near, line: rows.Count + 1));
            }
        }
        var result = DataFilter.Run(rows, new FilterOptions(ExactDuplicates: false));
        var found = result.Removed.Where(r => r.Stage == "near-duplicate").Select(r => r.Row.Line - 1).ToHashSet();
        Assert.Equal(planted.Order(), found.Order());
        Assert.All(result.Removed, r => Assert.Contains($"test.jsonl:{r.Row.Line - 1}", r.Reason));
    }
}
