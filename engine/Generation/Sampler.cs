namespace Engine.Generation;

/// <summary>
/// How the next token is chosen, as Hugging Face's generate does it: Temperature 0 is greedy (argmax); otherwise logits are
/// divided by Temperature, TopK &gt; 0 keeps the K largest (and any tied with the K-th), TopP &lt; 1 keeps the smallest set of
/// most likely tokens whose probability reaches TopP (always at least one), and the token is drawn from what is left, renormalised.
/// Row r of a generated batch draws from its own <c>Random(Seed + r)</c>, so a seed reproduces every draw.
/// </summary>
public sealed record SamplingOptions(float Temperature = 0, int TopK = 0, float TopP = 1, int Seed = 1, int MaxNewTokens = 128)
{
    public bool IsGreedy => Temperature == 0;

    /// <summary>Throws, naming the option, when a value is out of range.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentException($"temperature is {Temperature}, expected a finite value ≥ 0");
        if (TopK < 0) throw new ArgumentException($"top-k is {TopK}, expected ≥ 0 (0: no top-k)");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p is {TopP}, expected in (0, 1]");
        if (MaxNewTokens < 0) throw new ArgumentException($"max new tokens is {MaxNewTokens}, expected ≥ 0");
    }
}

/// <summary>Picks the next token from one row of logits.</summary>
public static class Sampler
{
    /// <summary>The next token: argmax when greedy, else a draw from <see cref="Distribution"/> with rng.</summary>
    public static int Next(ReadOnlySpan<float> logits, SamplingOptions options, Random rng)
    {
        if (options.IsGreedy) return Argmax(logits);
        var (tokens, probabilities) = Distribution(logits, options);
        double u = rng.NextDouble(), cumulative = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            cumulative += probabilities[i];
            if (u < cumulative) return tokens[i];
        }
        return tokens[^1];
    }

    /// <summary>The index of the largest logit (the first of equals).</summary>
    public static int Argmax(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty) throw new ArgumentException("logits are empty", nameof(logits));
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>
    /// The tokens that can be drawn, most likely first (ties by index), and their probabilities summing to 1:
    /// softmax(logits / T) over the top-k, then cut to the top-p nucleus, renormalised. Needs Temperature &gt; 0.
    /// </summary>
    public static (int[] Tokens, double[] Probabilities) Distribution(ReadOnlySpan<float> logits, SamplingOptions options)
    {
        if (logits.IsEmpty) throw new ArgumentException("logits are empty", nameof(logits));
        if (options.IsGreedy) throw new ArgumentException("a greedy choice (temperature 0) has no distribution to draw from");
        float[] values = logits.ToArray();
        int[] order = Enumerable.Range(0, values.Length).ToArray();
        Array.Sort(order, (a, b) => values[a] != values[b] ? values[b].CompareTo(values[a]) : a.CompareTo(b));
        int kept = options.TopK > 0 ? Math.Min(options.TopK, order.Length) : order.Length;
        while (kept < order.Length && values[order[kept]] == values[order[kept - 1]]) kept++;

        double temperature = options.Temperature, max = values[order[0]] / temperature, sum = 0;
        var probabilities = new double[kept];
        for (int i = 0; i < kept; i++) sum += probabilities[i] = Math.Exp(values[order[i]] / temperature - max);
        if (options.TopP < 1)
        {
            int nucleus = 0;
            double cumulative = 0;
            while (nucleus < kept && cumulative < options.TopP * sum) cumulative += probabilities[nucleus++];
            (kept, sum) = (Math.Max(1, nucleus), cumulative);
        }
        for (int i = 0; i < kept; i++) probabilities[i] /= sum;
        return (order[..kept], probabilities[..kept]);
    }
}
