using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>
/// Where tensors live and ops run. Every op is a forward/backward pair with explicit sizes (n = rows = tokens).
/// Forwards overwrite their outputs; backwards accumulate (+=) into their gradients, and a null gradient
/// (a frozen parameter) skips that work.
/// </summary>
public interface IBackend : IDisposable
{
    string Name { get; }

    // ---- memory ----
    /// <summary>A zero-filled tensor.</summary>
    Tensor Allocate(DType dtype, params int[] shape);

    /// <summary>A tensor of unspecified contents (pooled memory keeps old values), for an op output its forward overwrites
    /// entirely; a backend without a cheaper way zero-fills it.</summary>
    Tensor AllocateUninitialized(DType dtype, params int[] shape) => Allocate(dtype, shape);
    void Release(Tensor tensor);
    void Upload(Tensor dst, ReadOnlySpan<float> src);
    void Upload(Tensor dst, ReadOnlySpan<int> src);
    void Download(Tensor src, Span<float> dst);
    void Download(Tensor src, Span<double> dst);
    void Zero(Tensor tensor);
    void Copy(Tensor dst, Tensor src);

    // ---- ops ----
    void EmbeddingForward(Tensor y, Tensor ids, Tensor positions, Tensor wte, Tensor? wpe, int n, int c);
    void EmbeddingBackward(Tensor? dwte, Tensor? dwpe, Tensor dy, Tensor ids, Tensor positions, int n, int c);

    void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor w, Tensor b, int n, int c, float eps);
    void LayerNormBackward(Tensor? dx, Tensor? dw, Tensor? db, Tensor dy, Tensor x, Tensor w, Tensor mean, Tensor rstd, int n, int c);

    void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor w, int n, int c, float eps);
    void RmsNormBackward(Tensor? dx, Tensor? dw, Tensor dy, Tensor x, Tensor w, Tensor rstd, int n, int c);

    void MatMulForward(Tensor y, Tensor x, Tensor w, Tensor? bias, int n, int inDim, int outDim);
    void MatMulBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor dy, Tensor x, Tensor w, int n, int inDim, int outDim);

    /// <summary>
    /// LoRA in PEFT's layout: y = x·Wᵀ + bias + scale·h·loraBᵀ with h = x·loraAᵀ [n, rank] written for the backward;
    /// W [outDim, inDim], loraA [rank, inDim], loraB [outDim, rank].
    /// </summary>
    void LoraForward(Tensor y, Tensor h, Tensor x, Tensor w, Tensor? bias, Tensor loraA, Tensor loraB, float scale, int n, int inDim, int outDim, int rank);

    /// <summary>dLoraB += scale·dyᵀ·h; dh = scale·dy·loraB; dLoraA += dhᵀ·x; dx += dy·W + dh·loraA; dw += dyᵀ·x; dbias += Σ dy (a frozen W: no matmul for it).</summary>
    void LoraBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor? dLoraA, Tensor? dLoraB, Tensor dy, Tensor x, Tensor w, Tensor loraA, Tensor loraB, Tensor h,
        float scale, int n, int inDim, int outDim, int rank);

    void RopeForward(Tensor y, Tensor x, Tensor positions, Tensor invFreq, int n, int heads, int headDim);
    void RopeBackward(Tensor dx, Tensor dy, Tensor positions, Tensor invFreq, int n, int heads, int headDim);

    /// <summary>Causal, segment-masked, grouped-query attention; query t sees keys t − W &lt; j ≤ t of its segment, W = shape.Window (0 = unlimited).</summary>
    void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape shape);
    void AttentionBackward(Tensor? dq, Tensor? dk, Tensor? dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape shape);

    /// <summary>
    /// Attention of new tokens against a KV cache (generation: forward only). kCache[r, slots[r,i]] = k[r,i] and vCache[r, slots[r,i]] = v[r,i] for slots ≥ 0,
    /// then out[r,i,h,:] = Σ_{s−W&lt;j≤s} softmax_j(q[r,i,h,:]·kCache[r,j,g,:]/√D)·vCache[r,j,g,:] with s = slots[r,i], W the shape's window (0 = unlimited),
    /// g = h/(heads/kvHeads); out = 0 where slots[r,i] = −1 (padding).
    /// </summary>
    void CachedAttentionForward(Tensor output, Tensor q, Tensor k, Tensor v, Tensor kCache, Tensor vCache, Tensor slots, CachedAttentionShape shape);

    void GeluForward(Tensor y, Tensor x);
    void GeluBackward(Tensor dx, Tensor dy, Tensor x);

    void SwiGluForward(Tensor y, Tensor gate, Tensor up);
    void SwiGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up);

    /// <summary>y = gelu(gate)·up, gelu in its tanh form (Gemma's gelu_pytorch_tanh); the backward accumulates dGate and dUp.</summary>
    void GeGluForward(Tensor y, Tensor gate, Tensor up);
    void GeGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up);

    /// <summary>y = x ⊙ m, m_i = scale with probability 1 − p, else 0, drawn from (seed, i) by a counter-based hash: the mask is never stored.</summary>
    void DropoutForward(Tensor y, Tensor x, float p, float scale, uint seed);
    /// <summary>dx += dy ⊙ m, the forward's mask recomputed from the seed.</summary>
    void DropoutBackward(Tensor dx, Tensor dy, float p, float scale, uint seed);

    void Add(Tensor y, Tensor a, Tensor b);
    void Accumulate(Tensor dst, Tensor src);

    /// <summary>
    /// The LM head fused with cross-entropy, chunked over tokens so all logits never exist at once, over the kept rows only:
    /// rows [kept] (I32) holds the rows of x [n, c] that take a loss (target ≥ 0, ascending, as the host knows them) and targets [kept]
    /// (I32) their targets in [0, vocab). Adds L = Σ_i −log softmax(x[rows_i]·Wᵀ)[targets_i] (float64, summed in a fixed order, then added)
    /// into loss [1] (F64), which stays on the device; when dx/dw are given, adds gradScale × its gradient (rows of dx not kept are left as they are).
    /// </summary>
    void CrossEntropyForwardBackward(Tensor loss, Tensor? dx, Tensor? dw, Tensor x, Tensor w, Tensor rows, Tensor targets, int n, int kept, int c, int vocab, float gradScale);

    // ---- optimizer ----
    /// <summary>sum [1] (F64) = Σ_t Σ_i xs[t]_i²: each tensor's sum in float64 in a fixed order, added in list order (the squared global gradient norm, left on the device).</summary>
    void SumOfSquares(Tensor sum, IReadOnlyList<Tensor> xs);

    /// <summary>The step's clipping factor, computed where its inputs are (<see cref="ClipScale"/>): scale [1] (F32) = (float)(maxNorm / √sumOfSquares)
    /// when maxNorm &gt; 0 and the norm exceeds it, else 1; NaN when loss [1] or sumOfSquares [1] (F64) is not finite, which makes AdamW skip.</summary>
    void ClipScale(Tensor scale, Tensor loss, Tensor sumOfSquares, float maxNorm);

    void Scale(Tensor x, float s);

    /// <summary>AdamW of one parameter from the gradient gradScale[0]·grad (gradScale [1], F32: <see cref="ClipScale"/>'s factor); a NaN gradScale
    /// leaves param, m and v as they were (the step is skipped without the host looking).</summary>
    void AdamW(Tensor param, Tensor grad, Tensor gradScale, Tensor m, Tensor v, AdamWStep step);
}

/// <summary>
/// Sizes of one cached-attention call: q/out [rows, newTokens, heads, headDim]; k/v [rows, newTokens, kvHeads, headDim];
/// kCache/vCache [rows, capacity, kvHeads, headDim]; slots [rows, newTokens] (I32), each new token's cache slot (= its position in its row) or −1.
/// Window: the sliding window W, as in <see cref="Engine.Kernels.AttentionShape"/>: a token at slot s attends slots s − W &lt; j ≤ s; 0 = unlimited.
/// </summary>
public readonly record struct CachedAttentionShape(int Rows, int NewTokens, int Capacity, int Heads, int KvHeads, int HeadDim, int Window = 0);

/// <summary>The hyper-parameters of one AdamW update; Step counts from 1.</summary>
public readonly record struct AdamWStep(float LearningRate, float Beta1, float Beta2, float Eps, float WeightDecay, int Step);
