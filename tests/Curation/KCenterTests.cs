using Engine.Curation;
using Xunit;

namespace Engine.Tests.Curation;

public class KCenterTests
{
    [Fact]
    public void Picks_the_farthest_point_each_time_on_a_hand_made_set()
    {
        // A tight cluster at the origin, two far points and one middling point: from point 0 the farthest is (10, 0); then the point
        // farthest from both picked is (0, 8); then (5, 4) at distance² 41 from its nearest centre beats every cluster point.
        float[][] points = [[0, 0], [0.1f, 0], [0, 0.1f], [10, 0], [0, 8], [5, 4], [0.1f, 0.1f]];
        Assert.Equal([0, 3, 4, 5], KCenter.Select(points, 4));
    }

    [Fact]
    public void Never_picks_a_point_twice_even_among_duplicates()
    {
        float[][] points = [[1, 1], [1, 1], [1, 1]];
        Assert.Equal([0, 1, 2], KCenter.Select(points, 3));
    }

    [Fact]
    public void Matches_a_brute_force_reference()
    {
        var rng = new Random(5);
        var points = Enumerable.Range(0, 300).Select(_ => new[] { (float)rng.NextDouble(), (float)rng.NextDouble(), (float)rng.NextDouble() }).ToArray();
        var expected = new List<int> { 0 };
        while (expected.Count < 20)
            expected.Add(Enumerable.Range(0, points.Length).Where(i => !expected.Contains(i))
                .MaxBy(i => expected.Min(c => Enumerable.Range(0, 3).Sum(d => Math.Pow(points[i][d] - points[c][d], 2)))));
        Assert.Equal(expected, KCenter.Select(points, 20));
    }

    [Fact]
    public void K_outside_the_set_is_refused() => Assert.Throws<ArgumentException>(() => KCenter.Select([[0f]], 2));

    [Fact]
    public void Diversity_stage_keeps_distinct_prompts_over_paraphrases()
    {
        string[] prompts = ["What is 2 plus 3?", "What is 2 plus 4?", "What is 2 plus 5?", "Reverse the word river.", "What is the capital of Norland?"];
        var rows = prompts.Select((p, i) => CurationTestRows.Row(p, "An answer.", i + 1)).ToList();
        var result = DataFilter.Run(rows, new FilterOptions(Target: 3));
        Assert.Equal(3, result.Kept.Count);
        Assert.Equal(2, result.RemovedBy("diversity"));
        Assert.Contains(result.Kept, r => r.PromptText.StartsWith("Reverse"));
        Assert.Contains(result.Kept, r => r.PromptText.Contains("capital"));
        Assert.Throws<ArgumentException>(() => DataFilter.Run(rows, new FilterOptions(Target: 6)));
    }
}
