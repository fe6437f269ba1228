using Engine.Backends;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Autograd;

/// <summary>
/// The ops of the tape: each runs the backend's forward and pushes the matching backward.
/// Activations are 2-D: [rows = tokens, features]. The math of each op is stated beside its backend functions.
/// </summary>
public static class Ops
{
    /// <summary>y = wte[ids] + wpe[positions] (wpe null: no learned positions).</summary>
    public static Variable Embedding(this Tape tape, Tensor ids, Tensor positions, Variable wte, Variable? wpe)
    {
        int n = (int)ids.Length, c = wte.Columns;
        var y = tape.Result([n, c], wte, wpe);
        tape.Backend.EmbeddingForward(y.Value, ids, positions, wte.Value, wpe?.Value, n, c);
        if (y.RequiresGrad)
            tape.OnBackward(() => tape.Backend.EmbeddingBackward(tape.GradIfNeeded(wte), tape.GradIfNeeded(wpe), tape.GradOf(y), ids, positions, n, c));
        return y;
    }

    /// <summary>y = (x − mean)·rstd·w + b over each row.</summary>
    public static Variable LayerNorm(this Tape tape, Variable x, Variable w, Variable b, float eps)
    {
        int n = x.Rows, c = x.Columns;
        var y = tape.Result([n, c], x, w, b);
        var mean = tape.Allocate(DType.F32, n);
        var rstd = tape.Allocate(DType.F32, n);
        tape.Backend.LayerNormForward(y.Value, mean, rstd, x.Value, w.Value, b.Value, n, c, eps);
        if (y.RequiresGrad)
            tape.OnBackward(() => tape.Backend.LayerNormBackward(tape.GradIfNeeded(x), tape.GradIfNeeded(w), tape.GradIfNeeded(b), tape.GradOf(y), x.Value, w.Value, mean, rstd, n, c));
        return y;
    }

    /// <summary>y = x·rstd·w, rstd = 1/√(mean(x²) + eps) over each run of w's length c: a row of x, or each head of a row when w is one head long
    /// (Qwen3's q_norm and k_norm: x [n, heads·c] is normalised as [n·heads, c]).</summary>
    public static Variable RmsNorm(this Tape tape, Variable x, Variable w, float eps)
    {
        int c = (int)w.Value.Length;
        if (x.Columns % c != 0) throw new ArgumentException($"{w.Name} has {c} elements, which do not divide a row of {x.Columns}");
        int n = (int)(x.Value.Length / c);
        var y = tape.Result(x.Value.Shape, x, w);
        var rstd = tape.Allocate(DType.F32, n);
        tape.Backend.RmsNormForward(y.Value, rstd, x.Value, w.Value, n, c, eps);
        if (y.RequiresGrad)
            tape.OnBackward(() => tape.Backend.RmsNormBackward(tape.GradIfNeeded(x), tape.GradIfNeeded(w), tape.GradOf(y), x.Value, w.Value, rstd, n, c));
        return y;
    }

    /// <summary>y = x·Wᵀ + b, W as nn.Linear stores it: [out, in]. A frozen W costs no weight-gradient matmul.</summary>
    public static Variable Linear(this Tape tape, Variable x, Variable w, Variable? b)
    {
        int n = x.Rows, inDim = w.Columns, outDim = w.Rows;
        if (x.Columns != inDim) throw new ArgumentException($"{w.Name} expects {inDim} input features, got {x.Columns}");
        var y = tape.Result([n, outDim], x, w, b);
        tape.Backend.MatMulForward(y.Value, x.Value, w.Value, b?.Value, n, inDim, outDim);
        if (y.RequiresGrad)
            tape.OnBackward(() => tape.Backend.MatMulBackward(tape.GradIfNeeded(x), tape.GradIfNeeded(w), tape.GradIfNeeded(b), tape.GradOf(y), x.Value, w.Value, n, inDim, outDim));
        return y;
    }

    /// <summary>
    /// LoRA (PEFT's layout): y = x·Wᵀ + b + scale·(x·Aᵀ)·Bᵀ, A [rank, in], B [out, rank]; scale is alpha/rank (or alpha/√rank, rsLoRA).
    /// x·Aᵀ is kept on the tape for the backward; a frozen W or b costs no gradient work.
    /// </summary>
    public static Variable Lora(this Tape tape, Variable x, Variable w, Variable? b, Variable loraA, Variable loraB, float scale)
    {
        int n = x.Rows, inDim = w.Columns, outDim = w.Rows, rank = loraA.Rows;
        if (x.Columns != inDim) throw new ArgumentException($"{w.Name} expects {inDim} input features, got {x.Columns}");
        if (loraA.Columns != inDim) throw new ArgumentException($"{loraA.Name} has {loraA.Columns} columns, expected {inDim} (A is [rank, in])");
        if (loraB.Rows != outDim || loraB.Columns != rank)
            throw new ArgumentException($"{loraB.Name} is [{loraB.Rows}, {loraB.Columns}], expected [{outDim}, {rank}] (B is [out, rank])");
        var y = tape.Result([n, outDim], x, w, b, loraA, loraB);
        var h = tape.Allocate(DType.F32, n, rank);
        tape.Backend.LoraForward(y.Value, h, x.Value, w.Value, b?.Value, loraA.Value, loraB.Value, scale, n, inDim, outDim, rank);
        if (y.RequiresGrad)
            tape.OnBackward(() => tape.Backend.LoraBackward(tape.GradIfNeeded(x), tape.GradIfNeeded(w), tape.GradIfNeeded(b), tape.GradIfNeeded(loraA),
                tape.GradIfNeeded(loraB), tape.GradOf(y), x.Value, w.Value, loraA.Value, loraB.Value, h, scale, n, inDim, outDim, rank));
        return y;
    }

    /// <summary>Rotary position embedding (Hugging Face rotate-half) of each head of x: [n, heads·headDim].</summary>
    public static Variable Rope(this Tape tape, Variable x, Tensor positions, Tensor invFreq, int headDim)
    {
        int n = x.Rows, heads = x.Columns / headDim;
        var y = tape.Result([n, x.Columns], x);
        tape.Backend.RopeForward(y.Value, x.Value, positions, invFreq, n, heads, headDim);
        if (y.RequiresGrad)
            tape.OnBackward(() => tape.Backend.RopeBackward(tape.GradOf(x), tape.GradOf(y), positions, invFreq, n, heads, headDim));
        return y;
    }

    /// <summary>Causal grouped-query attention within segments; q: [n, heads·D], k and v: [n, kvHeads·D].</summary>
    public static Variable Attention(this Tape tape, Variable q, Variable k, Variable v, Tensor segments, AttentionShape shape)
    {
        var y = tape.Result([q.Rows, q.Columns], q, k, v);
        var lse = tape.Allocate(DType.F32, shape.Batch, shape.Heads, shape.SeqLen);
        tape.Backend.AttentionForward(y.Value, lse, q.Value, k.Value, v.Value, segments, shape);
        if (y.RequiresGrad)
            tape.OnBackward(() => tape.Backend.AttentionBackward(tape.GradIfNeeded(q), tape.GradIfNeeded(k), tape.GradIfNeeded(v), tape.GradOf(y), y.Value, lse, q.Value, k.Value, v.Value, segments, shape));
        return y;
    }

    /// <summary>
    /// Attention of new tokens against a KV cache (generation): stores k, v at the tokens' slots, then attends causally over the cache; q: [n, heads·D],
    /// k and v: [n, kvHeads·D]. Forward only: it refuses inputs that need a gradient.
    /// </summary>
    public static Variable CachedAttention(this Tape tape, Variable q, Variable k, Variable v, Tensor kCache, Tensor vCache, Tensor slots, CachedAttentionShape shape)
    {
        if (tape.RecordGradients && (q.RequiresGrad || k.RequiresGrad || v.RequiresGrad))
            throw new InvalidOperationException("cached attention has no backward: run it on a tape that records no gradients");
        var y = tape.Result([q.Rows, q.Columns]);
        tape.Backend.CachedAttentionForward(y.Value, q.Value, k.Value, v.Value, kCache, vCache, slots, shape);
        return y;
    }

    /// <summary>y = GELU(x), tanh form.</summary>
    public static Variable Gelu(this Tape tape, Variable x)
    {
        var y = tape.Result(x.Value.Shape, x);
        tape.Backend.GeluForward(y.Value, x.Value);
        if (y.RequiresGrad) tape.OnBackward(() => tape.Backend.GeluBackward(tape.GradOf(x), tape.GradOf(y), x.Value));
        return y;
    }

    /// <summary>y = silu(gate)·up.</summary>
    public static Variable SwiGlu(this Tape tape, Variable gate, Variable up)
    {
        var y = tape.Result(gate.Value.Shape, gate, up);
        tape.Backend.SwiGluForward(y.Value, gate.Value, up.Value);
        if (y.RequiresGrad)
            tape.OnBackward(() => tape.Backend.SwiGluBackward(tape.GradIfNeeded(gate), tape.GradIfNeeded(up), tape.GradOf(y), gate.Value, up.Value));
        return y;
    }

    /// <summary>y = gelu(gate)·up (tanh form).</summary>
    public static Variable GeGlu(this Tape tape, Variable gate, Variable up)
    {
        var y = tape.Result(gate.Value.Shape, gate, up);
        tape.Backend.GeGluForward(y.Value, gate.Value, up.Value);
        if (y.RequiresGrad)
            tape.OnBackward(() => tape.Backend.GeGluBackward(tape.GradIfNeeded(gate), tape.GradIfNeeded(up), tape.GradOf(y), gate.Value, up.Value));
        return y;
    }

    /// <summary>y = s·x; dx += s·dy (Gemma's scaled embeddings and attention scale).</summary>
    public static Variable Scale(this Tape tape, Variable x, float s)
    {
        var y = tape.Result(x.Value.Shape, x);
        tape.Backend.Copy(y.Value, x.Value);
        tape.Backend.Scale(y.Value, s);
        if (y.RequiresGrad)
            tape.OnBackward(() =>
            {
                var scaled = tape.Allocate(DType.F32, y.Value.Shape);
                tape.Backend.Copy(scaled, tape.GradOf(y));
                tape.Backend.Scale(scaled, s);
                tape.Backend.Accumulate(tape.GradOf(x), scaled);
            });
        return y;
    }

    /// <summary>y = x ⊙ m with m_i = scale with probability 1 − p, else 0, a stateless mask drawn from (seed, i); dx += dy ⊙ m.</summary>
    public static Variable Dropout(this Tape tape, Variable x, float p, float scale, uint seed)
    {
        var y = tape.Result(x.Value.Shape, x);
        tape.Backend.DropoutForward(y.Value, x.Value, p, scale, seed);
        if (y.RequiresGrad) tape.OnBackward(() => tape.Backend.DropoutBackward(tape.GradOf(x), tape.GradOf(y), p, scale, seed));
        return y;
    }

    /// <summary>y = a + b (the residual stream); both inputs receive dy.</summary>
    public static Variable Add(this Tape tape, Variable a, Variable b)
    {
        var y = tape.Result(a.Value.Shape, a, b);
        tape.Backend.Add(y.Value, a.Value, b.Value);
        if (y.RequiresGrad)
            tape.OnBackward(() =>
            {
                if (tape.GradIfNeeded(a) is { } da) tape.Backend.Accumulate(da, tape.GradOf(y));
                if (tape.GradIfNeeded(b) is { } db) tape.Backend.Accumulate(db, tape.GradOf(y));
            });
        return y;
    }

    /// <summary>
    /// loss [1] (F64) += Σ over rows with target ≥ 0 of −log softmax(x·Wᵀ)[target], the LM head fused with cross-entropy; the sum stays on the device.
    /// The loss is the root of the tape, so its seed gradient (<see cref="Tape.LossGradient"/>, 1 / target tokens in the optimizer step)
    /// is known up front: the fused op writes dx and dW during the forward, and nothing needs pushing. The targets are the host's: the
    /// rows with target ≥ 0 are found here and uploaded with their targets, so the head multiplies only those rows, without a device read.
    /// </summary>
    public static void CrossEntropy(this Tape tape, Variable x, Variable w, int[] targets, Tensor loss)
    {
        var (rows, keptTargets) = LossRows.Keep(targets);
        var rowsTensor = tape.Allocate(DType.I32, rows.Length);
        var targetsTensor = tape.Allocate(DType.I32, rows.Length);
        tape.Backend.Upload(rowsTensor, rows);
        tape.Backend.Upload(targetsTensor, keptTargets);
        tape.Backend.CrossEntropyForwardBackward(loss, tape.GradIfNeeded(x), tape.GradIfNeeded(w), x.Value, w.Value, rowsTensor, targetsTensor,
            x.Rows, rows.Length, x.Columns, w.Rows, tape.LossGradient);
    }
}
