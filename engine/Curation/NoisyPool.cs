using Engine.Data;

namespace Engine.Curation;

/// <summary>
/// A noisy SFT pool made from the built-in TinyChat generator, for the curation experiment and the filter's speed measurement: of
/// every row, with probability noiseFraction, the last answer is spoiled one of four ways (equally often) and the row says how in its
/// <c>"noise"</c> field (which readers ignore): "wrong" (the answer of another, random conversation: well formed, wrong),
/// "truncated" (cut after half its words), "duplicate" (an earlier clean row again, half of them exactly, half with "Sure. " before the
/// answer), "repetitive" (the answer said three times). Clean rows have <c>"noise": "clean"</c>.
/// </summary>
public static class NoisyPool
{
    public static readonly string[] Kinds = ["clean", "wrong", "truncated", "duplicate", "repetitive"];

    public static List<(SftExample Example, string Kind)> Generate(int count, int seed, double noiseFraction = 1.0 / 3)
    {
        var clean = TinyChat.Generate(count, seed);
        var rng = new Random(seed ^ 0x5EED);
        var pool = new List<(SftExample, string)>(count);
        var cleanSoFar = new List<SftExample>();
        for (int i = 0; i < count; i++)
        {
            var example = clean[i];
            if (rng.NextDouble() >= noiseFraction || cleanSoFar.Count == 0)
            {
                pool.Add((example, "clean"));
                cleanSoFar.Add(example);
                continue;
            }
            string answer = example.Turns[^1].Content;
            switch (rng.Next(4))
            {
                case 0:
                    pool.Add((WithAnswer(example, clean[rng.Next(count)].Turns[^1].Content), "wrong"));
                    break;
                case 1:
                    var words = answer.Split(' ');
                    pool.Add((WithAnswer(example, string.Join(' ', words[..Math.Max(1, words.Length / 2)])), "truncated"));
                    break;
                case 2:
                    var copy = cleanSoFar[rng.Next(cleanSoFar.Count)];
                    pool.Add((rng.Next(2) == 0 ? copy : WithAnswer(copy, "Sure. " + copy.Turns[^1].Content), "duplicate"));
                    break;
                default:
                    pool.Add((WithAnswer(example, $"{answer} {answer} {answer}"), "repetitive"));
                    break;
            }
        }
        return pool;
    }

    /// <summary>The pool as JSONL lines (messages and the noise kind).</summary>
    public static IEnumerable<string> Lines(IEnumerable<(SftExample Example, string Kind)> pool)
        => pool.Select(p => SftRowJson.Line(SftRowJson.Row(p.Example.Turns, ("noise", p.Kind))));

    private static SftExample WithAnswer(SftExample example, string answer)
        => example with { Turns = [.. example.Turns.Take(example.Turns.Count - 1), new ChatTurn(ChatRole.Assistant, answer)] };
}
