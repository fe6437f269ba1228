using Engine.Backends;
using Engine.Models;
using Engine.Tensors;
using Engine.Training;

namespace Engine.Tests.Models;

/// <summary>Tiny configs of each family and a batch that exercises masking and packing.</summary>
public static class TinyModels
{
    public static ModelConfig Gpt2() => ModelConfig.Gpt2(vocabSize: 11, contextLength: 8, layers: 2, dim: 8, heads: 2);

    /// <summary>Llama family with every option on: GQA, q/k/v bias (Qwen2), an untied head.</summary>
    public static ModelConfig Llama() => ModelConfig.Llama(vocabSize: 11, contextLength: 8, layers: 2, dim: 8, heads: 2, kvHeads: 1, ffnDim: 12)
        with { QkvBias = true, TiedEmbeddings = false };

    /// <summary>Mistral: Llama's blocks without bias, GQA, an untied head, and a sliding window of 3 keys, shorter than the batches' rows.</summary>
    public static ModelConfig Mistral() => Llama() with { Family = ModelFamily.Mistral, QkvBias = false, SlidingWindow = 3 };

    /// <summary>Qwen3: Llama's blocks without bias, GQA, an untied head, q/k head norms, and a head_dim of 6 where Dim / Heads is 4.</summary>
    public static ModelConfig Qwen3() => Llama() with { Family = ModelFamily.Qwen3, QkvBias = false, HeadDim = 6 };

    /// <summary>Phi-3: Llama's blocks without bias (fused q/k/v and gate/up in its checkpoint), GQA, an untied head, a sliding window of 4.</summary>
    public static ModelConfig Phi3() => Llama() with { Family = ModelFamily.Phi3, QkvBias = false, SlidingWindow = 4 };

    /// <summary>Gemma 3: (1 + w) norms around attention and MLP, q/k head norms, GeGLU, scaled embeddings, a tied head, GQA, a head_dim of 6
    /// where Dim / Heads is 4, scores over √8 (not √6), and layer 0 sliding (window 3, θ 10⁴) while layer 1 is global (θ 10⁶).</summary>
    public static ModelConfig Gemma3() => Llama() with
    {
        Family = ModelFamily.Gemma3, QkvBias = false, TiedEmbeddings = true, HeadDim = 6, SlidingWindow = 3, SlidingWindowPattern = 2,
        RopeTheta = 1_000_000, SlidingRopeTheta = 10_000, QueryPreAttentionScalar = 8,
    };

    public static ModelConfig Get(ModelFamily family) => family switch
    {
        ModelFamily.Gemma3 => Gemma3(),
        ModelFamily.Gpt2 => Gpt2(),
        ModelFamily.Mistral => Mistral(),
        ModelFamily.Qwen3 => Qwen3(),
        ModelFamily.Phi3 => Phi3(),
        _ => Llama(),
    };

    /// <summary>Two rows of 6: the first one example, the second two packed examples; some targets masked.</summary>
    public static Batch PackedBatch(int vocabSize, int seed = 1)
    {
        var rng = new Random(seed);
        int[] ids = Enumerable.Range(0, 12).Select(_ => rng.Next(vocabSize)).ToArray();
        int[] targets = Enumerable.Range(0, 12).Select(_ => rng.Next(vocabSize)).ToArray();
        targets[0] = targets[7] = -1;
        int[] positions = [0, 1, 2, 3, 4, 5, 0, 1, 2, 0, 1, 2];
        int[] segments = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1];
        return new Batch(2, 6, ids, targets, positions, segments);
    }

    /// <summary>Gradient buffers for the trainable parameters, as a Trainer allocates them, for tests that run the backward without one.</summary>
    public static void AllocateGradients(Transformer model)
    {
        foreach (var p in model.TrainableParameters) p.Grad ??= model.Backend.Allocate(DType.F32, p.Value.Shape);
    }

    /// <summary>Multiplies every weight by a factor, so gradients are large enough for float32 finite differences.</summary>
    public static void ScaleWeights(Transformer model, float factor)
    {
        foreach (var p in model.Parameters)
            if (p.Value.Shape.Length == 2) CpuElementwise.Scale(CpuBackend.F(p.Value), factor);
    }
}
