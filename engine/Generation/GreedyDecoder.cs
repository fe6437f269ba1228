using Engine.Autograd;
using Engine.Models;
using Engine.Training;

namespace Engine.Generation;

/// <summary>Greedy decoding by re-running the whole window each token (no KV cache yet): for demos and evals of tiny models.</summary>
public static class GreedyDecoder
{
    /// <summary>Up to newTokens greedy tokens after the prompt; stops after emitting stopId when one is given.</summary>
    public static List<int> Continue(Transformer model, IReadOnlyList<int> prompt, int newTokens, int? stopId = null)
    {
        var tokens = prompt.ToList();
        using var tape = new Tape(model.Backend, recordGradients: false);
        var logits = new float[model.Config.VocabSize];
        for (int i = 0; i < newTokens; i++)
        {
            int[] window = tokens.TakeLast(model.Config.ContextLength).ToArray();
            var batch = Batch.Unpacked(1, window.Length, window, new int[window.Length]);
            var all = model.Logits(tape, batch);
            model.Backend.Download(all.Value.View((long)(window.Length - 1) * logits.Length, logits.Length), logits);
            int next = Array.IndexOf(logits, logits.Max());
            tokens.Add(next);
            tape.Reset();
            if (next == stopId) break;
        }
        return tokens.Skip(prompt.Count).ToList();
    }
}
