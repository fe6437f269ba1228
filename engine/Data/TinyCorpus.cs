using System.Text;

namespace Engine.Data;

/// <summary>
/// The embedded default corpus: short stories generated from a small grammar with a fixed seed, so the main job
/// needs no files. Its regularities (spelling, agreement, counting down) give a small model something to learn quickly.
/// </summary>
public static class TinyCorpus
{
    private static readonly string[] Names = ["Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jade"];
    private static readonly string[] Animals = ["cat", "dog", "fox", "owl", "hen", "frog", "duck", "goat"];
    private static readonly string[] Places = ["the park", "the river", "the barn", "the hill", "the garden", "the shop"];
    private static readonly string[] Things = ["apples", "stones", "shells", "cards", "pears", "books"];
    private static readonly string[] Moods = ["happy", "sleepy", "hungry", "brave", "quiet", "busy"];
    private static readonly string[] Numbers = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

    /// <summary>A text of about <paramref name="stories"/> four-sentence stories.</summary>
    public static string Generate(int stories, int seed = 1)
    {
        var rng = new Random(seed);
        string Pick(string[] words) => words[rng.Next(words.Length)];
        var text = new StringBuilder();
        for (int s = 0; s < stories; s++)
        {
            string name = Pick(Names), friend = Pick(Names), animal = Pick(Animals), things = Pick(Things);
            int have = rng.Next(3, 10), give = rng.Next(1, have);
            text.Append($"{name} went to {Pick(Places)} with a {Pick(Moods)} {animal}. ");
            text.Append($"{name} had {Numbers[have]} {things}. ");
            text.Append($"{name} gave {Numbers[give]} {things} to {friend}, so {name} had {Numbers[have - give]} {things} left. ");
            text.Append($"The {animal} was {Pick(Moods)} and {friend} was {Pick(Moods)}.\n");
        }
        return text.ToString();
    }
}
