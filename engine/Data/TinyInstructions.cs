namespace Engine.Data;

/// <summary>One built-in instruction-following conversation: a TinyChat question with a verifiable instruction, the answer that follows
/// it, and the instructions as IFEval ids with their kwargs (JSON text).</summary>
public sealed record TinyInstruction(string Prompt, string Response, IReadOnlyList<(string Id, string Kwargs)> Instructions)
{
    public SftExample ToExample(string origin) => new([new ChatTurn(ChatRole.User, Prompt), new ChatTurn(ChatRole.Assistant, Response)], origin);
}

/// <summary>
/// The embedded instruction-following set, written for what a tiny byte-level model can learn: a TinyChat question with one instruction
/// (answer in capitals, in lowercase, end with a phrase, wrap in double quotes, give a title in &lt;&lt;…&gt;&gt;, add a P.S., repeat the
/// request first, spell without commas), and a quarter of the time a second one (capitals and quotes, capitals and an ending). Each is
/// checked as IFEval checks it (Engine.Checks), so the same set scores any model.
/// </summary>
public static class TinyInstructions
{
    private static readonly string[] Endings = ["Bye.", "Done.", "That is all."];
    private static readonly string[] Words = ["cat", "dog", "sun", "tree", "milk", "fish", "bird", "rain", "star", "moon", "book", "lamp"];

    /// <summary>300 conversations from seed 11.</summary>
    public static List<TinyInstruction> TrainSet() => Generate(300, seed: 11);

    /// <summary>The training set as SFT conversations (the main job trains on them beside TinyChat's).</summary>
    public static List<SftExample> TrainExamples() => TrainSet().Select((t, i) => t.ToExample($"tinyinstructions:11:{i}")).ToList();

    /// <summary>48 conversations from seed 12 whose prompts are not in <see cref="TrainSet"/>.</summary>
    public static List<TinyInstruction> HeldOutSet()
    {
        var seen = TrainSet().Select(t => t.Prompt).ToHashSet();
        return Generate(400, seed: 12).Where(t => !seen.Contains(t.Prompt)).DistinctBy(t => t.Prompt).Take(48).ToList();
    }

    public static List<TinyInstruction> Generate(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Next(rng)).ToList();
    }

    private static TinyInstruction Next(Random rng)
    {
        var (q, a) = TinyChat.Exchange(rng);
        string ending = Endings[rng.Next(Endings.Length)];
        string End(string phrase) => $$"""{"end_phrase": "{{phrase}}"}""";
        switch (rng.Next(10))
        {
            case 0: return new($"{q} Answer in capital letters.", a.ToUpperInvariant(), [("change_case:english_capital", "")]);
            case 1: return new($"{q} Answer in lowercase letters.", a.ToLowerInvariant(), [("change_case:english_lowercase", "")]);
            case 2: return new($"{q} End your answer with \"{ending}\"", $"{a} {ending}", [("startend:end_checker", End(ending))]);
            case 3: return new($"{q} Wrap your answer in double quotes.", $"\"{a}\"", [("startend:quotation", "")]);
            case 4: return new($"{q} Give your answer a title in double angular brackets.", $"<<Answer>>\n{a}", [("detectable_format:title", "")]);
            case 5: return new($"{q} Add a postscript starting with P.S.", $"{a}\nP.S. I hope that helps.", [("detectable_content:postscript", """{"postscript_marker": "P.S."}""")]);
            case 6: return new($"First repeat the request word for word, then answer: {q}", $"{q} {a}", [("combination:repeat_prompt", $$"""{"prompt_to_repeat": "{{q}}"}""")]);
            case 7:
            {
                string word = Words[rng.Next(Words.Length)];
                return new($"Spell the word {word} letter by letter without commas.", string.Join(' ', word.ToCharArray()), [("punctuation:no_comma", "")]);
            }
            case 8: return new($"{q} Answer in capital letters and wrap your answer in double quotes.", $"\"{a.ToUpperInvariant()}\"",
                [("change_case:english_capital", ""), ("startend:quotation", "")]);
            default: return new($"{q} Answer in capital letters and end with \"{ending}\"", $"{a.ToUpperInvariant()} {ending.ToUpperInvariant()}",
                [("change_case:english_capital", ""), ("startend:end_checker", End(ending))]);
        }
    }
}
