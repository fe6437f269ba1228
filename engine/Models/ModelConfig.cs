using Engine.Backends;

namespace Engine.Models;

public enum ModelFamily
{
    /// <summary>LayerNorm, learned positions, GELU MLP, biases on every linear layer, tied embeddings.</summary>
    Gpt2,

    /// <summary>RMSNorm, RoPE, SwiGLU MLP, grouped-query attention, optional q/k/v bias (Qwen2), tied or untied head.</summary>
    Llama,

    /// <summary>Llama's blocks (no bias) with sliding-window attention on every layer (<see cref="ModelConfig.SlidingWindow"/>; 0 when
    /// config.json's sliding_window is null). A family of its own so that a checkpoint saves back as model_type mistral.</summary>
    Mistral,

    /// <summary>Llama's blocks (no bias) with an RMSNorm over each head of q and of k (q_norm, k_norm) before RoPE; HeadDim is config.json's
    /// head_dim, which need not be Dim / Heads.</summary>
    Qwen3,

    /// <summary>Llama's blocks (no bias), the checkpoint fusing q, k, v into qkv_proj and gate, up into gate_up_proj (split on load, joined on
    /// save; LoRA targets them by those names), and config.json's sliding_window on every layer as for Mistral.</summary>
    Phi3,

    /// <summary>Gemma 3 text (Gemma3ForCausalLM): RMSNorms scaling by 1 + w, four per block (before and after attention and MLP), q/k head
    /// norms, a GeGLU MLP, embeddings times √Dim, attention scaled by 1/√<see cref="ModelConfig.QueryPreAttentionScalar"/>, and a pattern of
    /// sliding-window layers (RoPE θ <see cref="ModelConfig.SlidingRopeTheta"/>) and global ones (θ <see cref="ModelConfig.RopeTheta"/>).</summary>
    Gemma3,
}

/// <summary>The shape of a decoder-only transformer. The family decides the block's parts.</summary>
public sealed record ModelConfig
{
    public required ModelFamily Family { get; init; }
    public required int VocabSize { get; init; }
    public required int ContextLength { get; init; }
    public required int Layers { get; init; }
    public required int Dim { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int FfnDim { get; init; }
    public float NormEps { get; init; } = 1e-5f;
    public double RopeTheta { get; init; } = 10000;
    public bool QkvBias { get; init; }
    public bool TiedEmbeddings { get; init; } = true;

    /// <summary>Sliding-window attention: a query sees its last SlidingWindow keys, itself included (<see cref="Engine.Kernels.AttentionShape.Sees"/>);
    /// 0 = unlimited. Every layer's window comes from <see cref="AttentionWindow"/>.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>With a sliding window, every SlidingWindowPattern-th layer (l + 1 ≡ 0 mod P) is global, the rest slide (Gemma 3: P = 6);
    /// 0 = the window on every layer.</summary>
    public int SlidingWindowPattern { get; init; }

    /// <summary>RoPE θ of the sliding-window layers when it differs from the global layers' <see cref="RopeTheta"/> (Gemma 3's
    /// rope_local_base_freq); 0 = the same θ on every layer. <see cref="RopeScaling"/> applies to the global layers only.</summary>
    public double SlidingRopeTheta { get; init; }

    /// <summary>Attention scores are q·k/√QueryPreAttentionScalar (Gemma 3's query_pre_attn_scalar); 0 = /√HeadDim.</summary>
    public double QueryPreAttentionScalar { get; init; }

    /// <summary>Llama 3.1-style scaling of the RoPE frequencies; null for plain RoPE.</summary>
    public Llama3RopeScaling? RopeScaling { get; init; }

    /// <summary>GPT-2 puts a bias on every linear layer; Llama on none (Qwen2 on q, k, v only: <see cref="QkvBias"/>).</summary>
    public bool LinearBias => Family == ModelFamily.Gpt2;

    /// <summary>Qwen3, Gemma 3: q and k are RMS-normalised per head (q_norm, k_norm, weights [HeadDim]) after their projections, before RoPE.</summary>
    public bool HeadNorms => Family is ModelFamily.Qwen3 or ModelFamily.Gemma3;

    /// <summary>Gemma 3: RMSNorm weights are stored as offsets from one (y = x·rstd·(1 + w)); each block also normalises the attention's and
    /// the MLP's outputs before adding them to the residual stream; the MLP is GeGLU; the embeddings are scaled by √Dim.</summary>
    public bool IsGemma => Family == ModelFamily.Gemma3;

    /// <summary>Phi-3: the checkpoint and PEFT see one qkv_proj (rows q, k, v) and one gate_up_proj (rows gate, up) per block.</summary>
    public bool FusedProjections => Family == ModelFamily.Phi3;

    public static ModelConfig Gpt2(int vocabSize, int contextLength, int layers, int dim, int heads) => new()
    {
        Family = ModelFamily.Gpt2, VocabSize = vocabSize, ContextLength = contextLength, Layers = layers, Dim = dim,
        Heads = heads, KvHeads = heads, HeadDim = dim / heads, FfnDim = 4 * dim, QkvBias = true, TiedEmbeddings = true,
    };

    public static ModelConfig Llama(int vocabSize, int contextLength, int layers, int dim, int heads, int kvHeads, int ffnDim) => new()
    {
        Family = ModelFamily.Llama, VocabSize = vocabSize, ContextLength = contextLength, Layers = layers, Dim = dim,
        Heads = heads, KvHeads = kvHeads, HeadDim = dim / heads, FfnDim = ffnDim, NormEps = 1e-6f,
    };

    /// <summary>Whether a layer attends through the sliding window: every layer with a window, except the global ones of
    /// <see cref="SlidingWindowPattern"/>.</summary>
    public bool Slides(int layer) => SlidingWindow != 0 && (SlidingWindowPattern == 0 || (layer + 1) % SlidingWindowPattern != 0);

    /// <summary>The attention window of a layer (0 = unlimited), passed to every attention call of that layer.</summary>
    public int AttentionWindow(int layer) => Slides(layer) ? SlidingWindow : 0;

    /// <summary>The RoPE inverse-frequency table [HeadDim/2] of the global layers: θ^(−2i/HeadDim), scaled by <see cref="RopeScaling"/> when set.</summary>
    public float[] RopeInverseFrequencies()
    {
        var invFreq = CpuRope.InverseFrequencies(HeadDim, RopeTheta);
        return RopeScaling is null ? invFreq : RopeScaling.Scale(invFreq);
    }

    /// <summary>The sliding layers' table when their θ differs (<see cref="SlidingRopeTheta"/>, unscaled); null when every layer uses
    /// <see cref="RopeInverseFrequencies"/>.</summary>
    public float[]? SlidingRopeInverseFrequencies() => SlidingRopeTheta == 0 ? null : CpuRope.InverseFrequencies(HeadDim, SlidingRopeTheta);

    /// <summary>Throws with the offending field named when the shape is inconsistent.</summary>
    public void Validate()
    {
        Positive(VocabSize, nameof(VocabSize)); Positive(ContextLength, nameof(ContextLength)); Positive(Layers, nameof(Layers));
        Positive(Dim, nameof(Dim)); Positive(Heads, nameof(Heads)); Positive(KvHeads, nameof(KvHeads));
        Positive(HeadDim, nameof(HeadDim)); Positive(FfnDim, nameof(FfnDim));
        if (Heads % KvHeads != 0) throw new ArgumentException($"Heads ({Heads}) must be a multiple of KvHeads ({KvHeads})");
        if (Family == ModelFamily.Gpt2 && KvHeads != Heads) throw new ArgumentException("GPT-2 has no grouped-query attention: KvHeads must equal Heads");
        if (Family != ModelFamily.Gpt2 && HeadDim % 2 != 0) throw new ArgumentException($"RoPE needs an even HeadDim, got {HeadDim}");
        if (Family is not (ModelFamily.Gpt2 or ModelFamily.Llama) && QkvBias) throw new ArgumentException($"{Family} has no q/k/v bias: QkvBias must be false");
        if (SlidingWindow < 0) throw new ArgumentException($"SlidingWindow must be ≥ 0 (0 = unlimited), got {SlidingWindow}");
        if (SlidingWindowPattern < 0) throw new ArgumentException($"SlidingWindowPattern must be ≥ 0 (0 = the window on every layer), got {SlidingWindowPattern}");
        if (SlidingRopeTheta < 0 || QueryPreAttentionScalar < 0)
            throw new ArgumentException($"SlidingRopeTheta ({SlidingRopeTheta}) and QueryPreAttentionScalar ({QueryPreAttentionScalar}) must be ≥ 0 (0 = unused)");
        if (Family != ModelFamily.Gemma3 && (SlidingWindowPattern != 0 || SlidingRopeTheta != 0 || QueryPreAttentionScalar != 0))
            throw new ArgumentException($"SlidingWindowPattern, SlidingRopeTheta and QueryPreAttentionScalar are Gemma 3's; {Family} has them 0");
        if (Family == ModelFamily.Gemma3 && (SlidingWindow == 0 || RopeScaling is not null || QkvBias))
            throw new ArgumentException("Gemma 3 has a sliding window, plain RoPE and no q/k/v bias");
        RopeScaling?.Validate();
    }

    private static void Positive(int value, string name)
    {
        if (value <= 0) throw new ArgumentException($"{name} must be positive, got {value}");
    }
}
