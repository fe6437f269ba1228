namespace Engine.Data;

/// <summary>
/// The embedded default chat dataset, generated deterministically from a seed so <c>engine sft</c> needs no files:
/// short questions a tiny byte-level model can learn in a minute or two (adding and subtracting small numbers, word
/// problems, the capitals of a made-up table of countries, reversing and counting the letters of a word), sometimes
/// with a system prompt, sometimes two exchanges in one conversation.
/// </summary>
public static class TinyChat
{
    public const string SystemPrompt = "You are a helpful assistant.";

    private static readonly (string Country, string Capital)[] Capitals =
    [
        ("Norland", "Vesk"), ("Aldovia", "Trell"), ("Brisca", "Mora"), ("Caldera", "Fenn"), ("Dunmar", "Osk"),
        ("Elvaria", "Pim"), ("Frostia", "Lune"), ("Galtor", "Sorn"), ("Hespera", "Quill"), ("Istra", "Bel"),
    ];

    private static readonly string[] Words =
    [
        "cat", "dog", "sun", "tree", "milk", "fish", "bird", "rain", "star", "moon", "book", "lamp", "frog", "cake",
        "ship", "road", "apple", "house", "river", "stone", "cloud", "bread", "green", "light", "music", "paper",
    ];

    private static readonly string[] Names = ["Ada", "Ben", "Cleo", "Dan", "Eva", "Finn"];

    private static readonly string[] Things = ["apples", "pens", "coins", "shells", "cards"];

    /// <summary>The training set: 400 conversations from seed 1.</summary>
    public static List<SftExample> TrainSet() => Generate(400, seed: 1);

    /// <summary>64 conversations from seed 2 that do not occur in <see cref="TrainSet"/>.</summary>
    public static List<SftExample> HeldOutSet()
    {
        var seen = TrainSet().Select(Key).ToHashSet();
        return Generate(400, seed: 2).Where(e => !seen.Contains(Key(e))).Take(64).ToList();
    }

    public static List<SftExample> Generate(int count, int seed)
    {
        var rng = new Random(seed);
        var examples = new List<SftExample>(count);
        for (int i = 0; i < count; i++)
        {
            var turns = new List<ChatTurn>();
            if (rng.Next(10) < 3) turns.Add(new ChatTurn(ChatRole.System, SystemPrompt));
            int exchanges = rng.Next(4) == 0 ? 2 : 1;
            for (int e = 0; e < exchanges; e++)
            {
                var (question, answer) = Exchange(rng);
                turns.Add(new ChatTurn(ChatRole.User, question));
                turns.Add(new ChatTurn(ChatRole.Assistant, answer));
            }
            examples.Add(new SftExample(turns, $"tinychat:{seed}:{i}"));
        }
        return examples;
    }

    /// <summary>One question and its answer, drawn from rng (sums, differences, word problems, capitals, reversed words, letter counts).</summary>
    internal static (string Question, string Answer) Exchange(Random rng)
    {
        switch (rng.Next(6))
        {
            case 0:
            {
                int a = rng.Next(21), b = rng.Next(21);
                return ($"What is {a} plus {b}?", $"{a} plus {b} is {a + b}.");
            }
            case 1:
            {
                int a = rng.Next(21), b = rng.Next(a + 1);
                return ($"What is {a} minus {b}?", $"{a} minus {b} is {a - b}.");
            }
            case 2:
            {
                string name = Names[rng.Next(Names.Length)], things = Things[rng.Next(Things.Length)];
                int have = rng.Next(1, 10), more = rng.Next(1, 10);
                return ($"{name} has {have} {things} and gets {more} more. How many {things} does {name} have?", $"{name} has {have + more} {things}.");
            }
            case 3:
            {
                var (country, capital) = Capitals[rng.Next(Capitals.Length)];
                return ($"What is the capital of {country}?", $"The capital of {country} is {capital}.");
            }
            case 4:
            {
                string word = Words[rng.Next(Words.Length)];
                return ($"Reverse the word {word}.", new string(word.Reverse().ToArray()));
            }
            default:
            {
                string word = Words[rng.Next(Words.Length)];
                return ($"How many letters are in the word {word}?", $"The word {word} has {word.Length} letters.");
            }
        }
    }

    private static string Key(SftExample example) => string.Join("\u0001", example.Turns.Select(t => $"{t.Role}:{t.Content}"));
}
