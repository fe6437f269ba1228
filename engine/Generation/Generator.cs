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
    /// Row r draws from <c>Random(seeds[r])</c>, by default <c>Random(Seed + r)</c>.
    /// </summary>
    public static List<int>[] Generate(Transformer model, IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options, IReadOnlyCollection<int>? stopIds = null,
        Action<int, ReadOnlySpan<float>>? onLogits = null, IReadOnlyList<int>? seeds = null)
    {
        var run = Run.Start(model, prompts, options, stopIds, seeds);
        if (run.Active.Count == 0) return run.Completions;
        using var cache = new KvCache(model.Backend, model.Config, prompts.Count, run.Capacity);
        return run.Finish(cache, onLogits, firstLogits: null);
    }

    /// <summary>
    /// samples completions of each prompt (row p·samples + j is sample j of prompt p, drawing from <c>Random(seeds[row])</c>), sharing
    /// each prompt's prefill: the prompts run once into a cache of one row per prompt, whose keys and values are then copied into
    /// the samples' rows with the prefill's next-token logits, so the samples equal those of <see cref="Generate(Transformer, IReadOnlyList{IReadOnlyList{int}}, SamplingOptions, IReadOnlyCollection{int}?, Action{int, ReadOnlySpan{float}}?, IReadOnlyList{int}?)"/>
    /// on each prompt repeated samples times, without computing the prompt samples times.
    /// </summary>
    public static List<int>[] SampleShared(Transformer model, IReadOnlyList<IReadOnlyList<int>> prompts, int samples, SamplingOptions options,
        IReadOnlyCollection<int>? stopIds = null, IReadOnlyList<int>? seeds = null)
    {
        if (samples < 1) throw new ArgumentException($"samples per prompt is {samples}, expected ≥ 1");
        var repeated = prompts.SelectMany(p => Enumerable.Repeat(p, samples)).ToList();
        var run = Run.Start(model, repeated, options, stopIds, seeds);
        if (run.Active.Count == 0) return run.Completions;
        int vocab = model.Config.VocabSize;
        var logits = new float[repeated.Count * vocab];
        using var cache = new KvCache(model.Backend, model.Config, repeated.Count, run.Capacity);
        using (var prefill = new KvCache(model.Backend, model.Config, prompts.Count, run.Capacity))
        using (var tape = new Tape(model.Backend, recordGradients: false))
        {
            var prompted = Run.Start(model, prompts, options, stopIds, seeds: null);
            var (ids, slots) = NewTokens(prompted.Tokens, prompted.Cached, prompted.Active, model.Config.ContextLength);
            var prefillLogits = new float[prompts.Count * vocab];
            model.Backend.Download(model.Decode(tape, prefill, ids, slots).Value, prefillLogits);
            int rowFloats = run.Capacity * model.Config.KvHeads * model.Config.HeadDim;
            for (int row = 0; row < repeated.Count; row++)
            {
                int p = row / samples;
                for (int l = 0; l < model.Config.Layers; l++)
                {
                    model.Backend.Copy(cache.Keys(l).View((long)row * rowFloats, rowFloats), prefill.Keys(l).View((long)p * rowFloats, rowFloats));
                    model.Backend.Copy(cache.Values(l).View((long)row * rowFloats, rowFloats), prefill.Values(l).View((long)p * rowFloats, rowFloats));
                }
                prefillLogits.AsSpan(p * vocab, vocab).CopyTo(logits.AsSpan(row * vocab, vocab));
                run.Cached[row] = prompted.Cached[p];
            }
        }
        return run.Finish(cache, onLogits: null, logits);
    }

    /// <summary>The state of one generation: each row's tokens so far, completion, random source, cached length, and the rows still going.</summary>
    private sealed record Run(Transformer Model, SamplingOptions Options, HashSet<int> Stops, List<int>[] Tokens, List<int>[] Completions, Random[] Rngs,
        int[] Cached, List<int> Active, int Capacity)
    {
        public static Run Start(Transformer model, IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options, IReadOnlyCollection<int>? stopIds, IReadOnlyList<int>? seeds)
        {
            options.Validate();
            for (int p = 0; p < prompts.Count; p++)
                if (prompts[p].Count == 0) throw new ArgumentException($"prompt {p} is empty: generation needs at least one token to continue");
            if (seeds is not null && seeds.Count != prompts.Count) throw new ArgumentException($"{seeds.Count} seeds for {prompts.Count} rows");
            int capacity = prompts.Count == 0 ? 1 : Math.Min(model.Config.ContextLength, prompts.Max(p => p.Count) + options.MaxNewTokens - 1);
            return new Run(model, options, new HashSet<int>(stopIds ?? []), prompts.Select(p => p.ToList()).ToArray(), prompts.Select(_ => new List<int>()).ToArray(),
                Enumerable.Range(0, prompts.Count).Select(r => new Random(seeds?[r] ?? options.Seed + r)).ToArray(), new int[prompts.Count],
                Enumerable.Range(0, prompts.Count).Where(_ => options.MaxNewTokens > 0).ToList(), capacity);
        }

        /// <summary>Steps until every row has stopped; firstLogits, when given, are the next-token logits of every row for the first step.</summary>
        public List<int>[] Finish(KvCache cache, Action<int, ReadOnlySpan<float>>? onLogits, float[]? firstLogits)
        {
            int vocab = Model.Config.VocabSize;
            var logits = firstLogits ?? new float[Tokens.Length * vocab];
            using var tape = new Tape(Model.Backend, recordGradients: false);
            for (bool first = true; Active.Count > 0; first = false)
            {
                if (!first || firstLogits is null)
                {
                    var (ids, slots) = NewTokens(Tokens, Cached, Active, Model.Config.ContextLength);
                    Model.Backend.Download(Model.Decode(tape, cache, ids, slots).Value, logits);
                    tape.Reset();
                }
                foreach (int row in Active)
                {
                    var rowLogits = logits.AsSpan(row * vocab, vocab);
                    onLogits?.Invoke(row, rowLogits);
                    int next = Sampler.Next(rowLogits, Options, Rngs[row]);
                    Tokens[row].Add(next);
                    Completions[row].Add(next);
                }
                Active.RemoveAll(r => Stops.Contains(Completions[r][^1]) || Completions[r].Count >= Options.MaxNewTokens);
            }
            return Completions;
        }
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
