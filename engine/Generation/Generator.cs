using Engine.Autograd;
using Engine.Models;
using Engine.Training;

namespace Engine.Generation;

/// <summary>
/// Text generation for a batch of prompts at once, re-running each row's whole window every token (no KV cache yet).
/// Each step packs the unfinished rows into one <see cref="Batch"/>, right-padded to the longest window: real tokens sit at
/// positions 0..len−1 in segment 0 and the padding in segment 1, so under causal attention real tokens never see the padding
/// (it comes after them and belongs to another segment) and each row's logits are those of the row alone. A row's next token
/// is sampled from the logits at its last real position; a window longer than the context keeps its most recent tokens.
/// </summary>
public static class Generator
{
    /// <summary>
    /// The new tokens of each prompt, in prompt order. A row ends after MaxNewTokens or after emitting one of stopIds;
    /// that stop token is included as the completion's last token.
    /// </summary>
    public static List<int>[] Generate(Transformer model, IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options, IReadOnlyCollection<int>? stopIds = null)
    {
        options.Validate();
        for (int p = 0; p < prompts.Count; p++)
            if (prompts[p].Count == 0) throw new ArgumentException($"prompt {p} is empty: generation needs at least one token to continue");
        var stops = new HashSet<int>(stopIds ?? []);
        var tokens = prompts.Select(p => p.ToList()).ToArray();
        var completions = prompts.Select(_ => new List<int>()).ToArray();
        var rngs = Enumerable.Range(0, prompts.Count).Select(r => new Random(options.Seed + r)).ToArray();
        var active = Enumerable.Range(0, prompts.Count).Where(_ => options.MaxNewTokens > 0).ToList();
        var logits = new float[model.Config.VocabSize];
        using var tape = new Tape(model.Backend, recordGradients: false);
        while (active.Count > 0)
        {
            var windows = active.Select(r => Window(tokens[r], model.Config.ContextLength)).ToArray();
            var batch = PaddedBatch(windows);
            var all = model.Logits(tape, batch);
            for (int i = 0; i < active.Count; i++)
            {
                long last = (long)i * batch.SeqLen + windows[i].Length - 1;
                model.Backend.Download(all.Value.View(last * logits.Length, logits.Length), logits);
                int row = active[i], next = Sampler.Next(logits, options, rngs[row]);
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

    /// <summary>The last contextLength tokens.</summary>
    private static int[] Window(List<int> tokens, int contextLength)
        => tokens.GetRange(Math.Max(0, tokens.Count - contextLength), Math.Min(tokens.Count, contextLength)).ToArray();

    /// <summary>Rows right-padded with token 0 to the longest window; real tokens in segment 0, padding in segment 1; no targets.</summary>
    private static Batch PaddedBatch(int[][] windows)
    {
        int rows = windows.Length, seqLen = windows.Max(w => w.Length);
        var ids = new int[rows * seqLen];
        var targets = new int[rows * seqLen];
        var positions = new int[rows * seqLen];
        var segments = new int[rows * seqLen];
        Array.Fill(targets, -1);
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < seqLen; t++)
            {
                int at = r * seqLen + t;
                bool real = t < windows[r].Length;
                ids[at] = real ? windows[r][t] : 0;
                positions[at] = real ? t : t - windows[r].Length;
                segments[at] = real ? 0 : 1;
            }
        return new Batch(rows, seqLen, ids, targets, positions, segments);
    }
}
