using Engine.Autograd;
using Engine.Models;

namespace Engine.Generation;

/// <summary>
/// Text generation for a batch of prompts at once, with a KV cache: the keys and values of every row stay in a <see cref="KvCache"/>, so each
/// step runs only the tokens a row has not cached yet through <see cref="Transformer.Decode"/>: the whole prompt at the first step (prefill),
/// then the one token sampled last. A step's rows are right-aligned: a row with fewer new tokens than the longest is padded on the left
/// (slot −1: no cache write, no attention), so every row's next token is sampled from the logits at its last position. A finished row stays in
/// the batch as padding and its logits are ignored. A window longer than the context keeps its most recent tokens, as the model without a cache
/// would see them: their positions then shift at every step, so such a row re-prefills its whole window from slot 0 at each step.
/// </summary>
public static class Generator
{
    /// <summary>
    /// The new tokens of each prompt, in prompt order. A row ends after MaxNewTokens or after emitting one of stopIds;
    /// that stop token is included as the completion's last token. onLogits, when given, sees each row's next-token logits before sampling.
    /// </summary>
    public static List<int>[] Generate(Transformer model, IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options, IReadOnlyCollection<int>? stopIds = null,
        Action<int, ReadOnlySpan<float>>? onLogits = null)
    {
        options.Validate();
        for (int p = 0; p < prompts.Count; p++)
            if (prompts[p].Count == 0) throw new ArgumentException($"prompt {p} is empty: generation needs at least one token to continue");
        var stops = new HashSet<int>(stopIds ?? []);
        var tokens = prompts.Select(p => p.ToList()).ToArray();
        var completions = prompts.Select(_ => new List<int>()).ToArray();
        var rngs = Enumerable.Range(0, prompts.Count).Select(r => new Random(options.Seed + r)).ToArray();
        var active = Enumerable.Range(0, prompts.Count).Where(_ => options.MaxNewTokens > 0).ToList();
        if (active.Count == 0) return completions;

        int vocab = model.Config.VocabSize, context = model.Config.ContextLength;
        int capacity = Math.Min(context, prompts.Max(p => p.Count) + options.MaxNewTokens - 1);
        var cached = new int[prompts.Count];
        var logits = new float[prompts.Count * vocab];
        using var cache = new KvCache(model.Backend, model.Config, prompts.Count, capacity);
        using var tape = new Tape(model.Backend, recordGradients: false);
        while (active.Count > 0)
        {
            var (ids, slots) = NewTokens(tokens, cached, active, context);
            model.Backend.Download(model.Decode(tape, cache, ids, slots).Value, logits);
            foreach (int row in active)
            {
                var rowLogits = logits.AsSpan(row * vocab, vocab);
                onLogits?.Invoke(row, rowLogits);
                int next = Sampler.Next(rowLogits, options, rngs[row]);
                tokens[row].Add(next);
                completions[row].Add(next);
            }
            tape.Reset();
            active.RemoveAll(r => stops.Contains(completions[r][^1]) || completions[r].Count >= options.MaxNewTokens);
        }
        return completions;
    }

    /// <summary>The new tokens of one prompt (see the batched overload).</summary>
    public static List<int> Generate(Transformer model, IReadOnlyList<int> prompt, SamplingOptions options, IReadOnlyCollection<int>? stopIds = null)
        => Generate(model, [prompt], options, stopIds)[0];

    /// <summary>
    /// The ids and slots [rows, newTokens] of one step. An active row's window is its last contextLength tokens; its new tokens are those of the
    /// window after the cached ones (all of them, from slot 0, once the window has slid: its positions changed). Rows are right-aligned with
    /// padding (id 0, slot −1) first; inactive rows are all padding. Records in cached how many tokens of each row the cache then holds.
    /// </summary>
    private static (int[] Ids, int[] Slots) NewTokens(List<int>[] tokens, int[] cached, List<int> active, int contextLength)
    {
        var windowStart = new int[tokens.Length];
        int newTokens = 0;
        foreach (int r in active)
        {
            windowStart[r] = Math.Max(0, tokens[r].Count - contextLength);
            if (windowStart[r] > 0) cached[r] = 0;
            newTokens = Math.Max(newTokens, tokens[r].Count - windowStart[r] - cached[r]);
        }
        var ids = new int[tokens.Length * newTokens];
        var slots = new int[ids.Length];
        Array.Fill(slots, -1);
        foreach (int r in active)
        {
            int window = tokens[r].Count - windowStart[r], count = window - cached[r], first = r * newTokens + newTokens - count;
            for (int t = 0; t < count; t++)
            {
                ids[first + t] = tokens[r][windowStart[r] + cached[r] + t];
                slots[first + t] = cached[r] + t;
            }
            cached[r] = window;
        }
        return (ids, slots);
    }
}
