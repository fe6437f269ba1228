using Engine.Autograd;
using Engine.Models;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Curation;

/// <summary>
/// Text embeddings from a language model itself (no separate embedding model): the mean over a text's tokens of the final-normalised
/// hidden states, scaled to unit length. Texts longer than the context keep their first tokens; 16 texts run per batch, padded at the
/// end (a causal model's earlier tokens never see the padding, and the mean skips it).
/// </summary>
public static class ModelEmbedding
{
    public static float[][] Embed(Transformer model, ITextTokenizer tokenizer, IReadOnlyList<string> texts)
    {
        int dim = model.Config.Dim, context = model.Config.ContextLength;
        var result = new float[texts.Count][];
        using var tape = new Tape(model.Backend, recordGradients: false);
        for (int start = 0; start < texts.Count; start += BatchRows)
        {
            var ids = texts.Skip(start).Take(BatchRows).Select(t => tokenizer.Encode(t).Take(context).DefaultIfEmpty(0).ToArray()).ToArray();
            int seqLen = ids.Max(i => i.Length);
            var flat = new int[ids.Length * seqLen];
            for (int r = 0; r < ids.Length; r++) ids[r].CopyTo(flat, r * seqLen);
            var hidden = new float[flat.Length * dim];
            model.Backend.Download(model.HiddenStates(tape, Batch.Unpacked(ids.Length, seqLen, flat, new int[flat.Length])).Value, hidden);
            tape.Reset();
            for (int r = 0; r < ids.Length; r++)
            {
                // e = normalise(Σₜ hₜ / T) over the row's T real tokens.
                var mean = new float[dim];
                for (int t = 0; t < ids[r].Length; t++)
                    System.Numerics.Tensors.TensorPrimitives.Add(mean, hidden.AsSpan((r * seqLen + t) * dim, dim), mean);
                System.Numerics.Tensors.TensorPrimitives.Divide(mean, ids[r].Length, mean);
                result[start + r] = Embeddings.Normalized(mean);
            }
        }
        return result;
    }

    private const int BatchRows = 16;
}
