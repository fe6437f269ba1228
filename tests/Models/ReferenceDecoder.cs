using Engine.Backends;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Support;
using Engine.Training;

namespace Engine.Tests.Models;

/// <summary>
/// An independent float64 forward of the RoPE decoder families as transformers computes them (LlamaForCausalLM, Qwen2ForCausalLM,
/// MistralForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, Gemma3ForCausalLM), from weights by their checkpoint names, in plain double arrays;
/// only the config record is the engine's. Per block: h = RMSNorm(x) = x/√(mean x² + eps)·w; q, k, v = h·Wᵀ (Qwen2: + bias; Phi-3: the columns [q | k | v] of
/// h·qkv_projᵀ); Qwen3: each head of q and k RMS-normalised by q_norm, k_norm;
/// RoPE rotate-half at each token's position with frequencies θ^(−2i/D); grouped-query softmax(q·k/√D) over the earlier keys of the token's segment
/// and, with a sliding window W, only keys j &gt; t − W (transformers' masking_utils.sliding_window_overlay); x += o_proj(attention);
/// x += down(silu(gate(h))·up(h)) with h = RMSNorm(x) (Phi-3: gate and up the two halves of h·gate_up_projᵀ). Then the final norm and the head
/// (lm_head, or the embedding when tied).
/// Gemma 3 (modeling_gemma3): embeddings times √C (the float32 constant); every RMSNorm scales by 1 + w; q_norm and k_norm; RoPE θ and
/// window by layer (a sliding layer: rope_local_base_freq and window W; every P-th layer global: rope_theta, no window); scores
/// q·k/√query_pre_attn_scalar; x += post_attention_layernorm(o_proj(attention(input_layernorm(x)))); x += post_feedforward_layernorm(
/// down(gelu_tanh(gate(h))·up(h))) with h = pre_feedforward_layernorm(x).
/// </summary>
public sealed class ReferenceDecoder(ModelConfig config, IReadOnlyDictionary<string, double[]> weights)
{
    public ModelConfig Config => config;

    /// <summary>The weights by their checkpoint names, as the forward reads them.</summary>
    public IReadOnlyDictionary<string, double[]> Weights => weights;

    /// <summary>Every tensor a checkpoint of this config holds, with its shape, in the order transformers lists them.</summary>
    public static IEnumerable<(string Name, int[] Shape)> Tensors(ModelConfig c)
    {
        int q = c.Heads * c.HeadDim, kv = c.KvHeads * c.HeadDim;
        yield return ("model.embed_tokens.weight", [c.VocabSize, c.Dim]);
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            yield return (p + "input_layernorm.weight", [c.Dim]);
            if (c.Family == ModelFamily.Phi3) yield return (p + "self_attn.qkv_proj.weight", [q + 2 * kv, c.Dim]);
            else
                foreach (var (name, rows) in new[] { ("q_proj", q), ("k_proj", kv), ("v_proj", kv) })
                {
                    yield return (p + $"self_attn.{name}.weight", [rows, c.Dim]);
                    if (c.QkvBias) yield return (p + $"self_attn.{name}.bias", [rows]);
                }
            if (c.Family is ModelFamily.Qwen3 or ModelFamily.Gemma3)
            {
                yield return (p + "self_attn.q_norm.weight", [c.HeadDim]);
                yield return (p + "self_attn.k_norm.weight", [c.HeadDim]);
            }
            yield return (p + "self_attn.o_proj.weight", [c.Dim, q]);
            yield return (p + "post_attention_layernorm.weight", [c.Dim]);
            if (c.Family == ModelFamily.Gemma3)
            {
                yield return (p + "pre_feedforward_layernorm.weight", [c.Dim]);
                yield return (p + "post_feedforward_layernorm.weight", [c.Dim]);
            }
            if (c.Family == ModelFamily.Phi3) yield return (p + "mlp.gate_up_proj.weight", [2 * c.FfnDim, c.Dim]);
            else
            {
                yield return (p + "mlp.gate_proj.weight", [c.FfnDim, c.Dim]);
                yield return (p + "mlp.up_proj.weight", [c.FfnDim, c.Dim]);
            }
            yield return (p + "mlp.down_proj.weight", [c.Dim, c.FfnDim]);
        }
        yield return ("model.norm.weight", [c.Dim]);
        if (!c.TiedEmbeddings) yield return ("lm_head.weight", [c.VocabSize, c.Dim]);
    }

    /// <summary>Random weights, each a float32 value (a checkpoint holds them exactly): matrices and biases uniform in ±scale, norm weights in
    /// 1 ± 0.2 (Gemma's offsets from one in ±0.2), so every part of the forward matters.</summary>
    public static ReferenceDecoder Random(ModelConfig config, int seed, float scale)
    {
        var weights = new Dictionary<string, double[]>();
        int i = 0;
        foreach (var (name, shape) in Tensors(config))
        {
            int n = shape.Aggregate(1, (a, b) => a * b);
            float[] u = TestData.Uniform(n, seed + i++);
            float normBase = config.Family == ModelFamily.Gemma3 ? 0 : 1;
            weights[name] = [.. u.Select(x => (double)(name.EndsWith("norm.weight") ? normBase + 0.2f * x : scale * x))];
        }
        return new ReferenceDecoder(config, weights);
    }

    /// <summary>The weights (float32, exactly as held) as model.safetensors in a directory.</summary>
    public void WriteWeights(string directory)
    {
        Directory.CreateDirectory(directory);
        var tensors = Tensors(config).Select(t => NamedTensor.Of(t.Name, t.Shape, [.. weights[t.Name].Select(w => (float)w)])).ToList();
        SafeTensors.Write(Path.Combine(directory, ShardedCheckpoint.SingleFileName), tensors);
    }

    /// <summary>Σ over the batch's target tokens (target ≥ 0) of −log softmax(logits)[target]: what the engine's Forward adds into its loss.</summary>
    public double Loss(Batch batch)
    {
        double[] logits = Logits(batch);
        int vocab = config.VocabSize;
        double loss = 0;
        for (int t = 0; t < batch.Tokens; t++)
        {
            if (batch.Targets[t] < 0) continue;
            var row = logits.AsSpan(t * vocab, vocab);
            double max = double.NegativeInfinity, sum = 0;
            foreach (double z in row) max = Math.Max(max, z);
            foreach (double z in row) sum += Math.Exp(z - max);
            loss += max + Math.Log(sum) - row[batch.Targets[t]];
        }
        return loss;
    }

    /// <summary>Logits [rows·seqLen, vocab] of a batch (its ids, positions and segment ids; targets unused).</summary>
    public double[] Logits(Batch batch)
    {
        if (config.Family == ModelFamily.Gpt2 || config.RopeScaling is not null)
            throw new ArgumentException($"the reference runs the RoPE families with plain RoPE, not {config.Family} with {config.RopeScaling}");
        int n = batch.Tokens, c = config.Dim;
        var x = new double[n * c];
        double[] embedding = weights["model.embed_tokens.weight"];
        for (int t = 0; t < n; t++) Array.Copy(embedding, batch.Ids[t] * c, x, t * c, c);
        bool gemma = config.Family == ModelFamily.Gemma3;
        if (gemma)
            for (int i = 0; i < x.Length; i++) x[i] *= (float)Math.Sqrt(c);
        for (int l = 0; l < config.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            double[] h = RmsNorm(x, weights[p + "input_layernorm.weight"]);
            int qDim = config.Heads * config.HeadDim, kvDim = config.KvHeads * config.HeadDim;
            var (q, k, v) = config.Family == ModelFamily.Phi3
                ? Split3(Project(h, n, p + "self_attn.qkv_proj"), n, qDim, kvDim)
                : (Project(h, n, p + "self_attn.q_proj"), Project(h, n, p + "self_attn.k_proj"), Project(h, n, p + "self_attn.v_proj"));
            if (config.Family is ModelFamily.Qwen3 or ModelFamily.Gemma3)
            {
                q = RmsNorm(q, weights[p + "self_attn.q_norm.weight"]);
                k = RmsNorm(k, weights[p + "self_attn.k_norm.weight"]);
            }
            double[] attended = Project(Attention(batch, l, q, k, v), n, p + "self_attn.o_proj");
            Add(x, gemma ? RmsNorm(attended, weights[p + "post_attention_layernorm.weight"]) : attended);
            h = RmsNorm(x, weights[p + (gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight")]);
            var (gate, up) = config.Family == ModelFamily.Phi3
                ? Halves(Project(h, n, p + "mlp.gate_up_proj"), n)
                : (Project(h, n, p + "mlp.gate_proj"), Project(h, n, p + "mlp.up_proj"));
            for (int i = 0; i < gate.Length; i++)
            {
                double g = gate[i];
                gate[i] = (gemma ? 0.5 * g * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (g + 0.044715 * g * g * g))) : g / (1 + Math.Exp(-g))) * up[i];
            }
            double[] down = Project(gate, n, p + "mlp.down_proj");
            Add(x, gemma ? RmsNorm(down, weights[p + "post_feedforward_layernorm.weight"]) : down);
        }
        return MatMulTransposed(RmsNorm(x, weights["model.norm.weight"]), weights[config.TiedEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight"], n);
    }

    /// <summary>Layer l's attention: per row, token t, head h (kv head h / (H/KV)): softmax over keys j ≤ t of t's segment (and j &gt; t − W on a
    /// sliding layer) of q·k/√D (Gemma: /√query_pre_attn_scalar), times v; RoPE with the layer's θ.</summary>
    private double[] Attention(Batch batch, int l, double[] q, double[] k, double[] v)
    {
        bool sliding = config.SlidingWindow != 0 && (config.SlidingWindowPattern == 0 || (l + 1) % config.SlidingWindowPattern != 0);
        int T = batch.SeqLen, H = config.Heads, KV = config.KvHeads, D = config.HeadDim, W = sliding ? config.SlidingWindow : 0;
        double theta = sliding && config.SlidingRopeTheta != 0 ? config.SlidingRopeTheta : config.RopeTheta;
        double scoreScale = 1 / Math.Sqrt(config.QueryPreAttentionScalar != 0 ? config.QueryPreAttentionScalar : D);
        Rope(q, batch.Positions, H, theta);
        Rope(k, batch.Positions, KV, theta);
        var output = new double[batch.Tokens * H * D];
        for (int r = 0; r < batch.Rows; r++)
        for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
        {
            int g = h / (H / KV), query = r * T + t;
            var seen = Enumerable.Range(0, t + 1).Where(j => batch.Segments[r * T + j] == batch.Segments[query] && (W == 0 || j > t - W)).ToArray();
            double[] scores = [.. seen.Select(j => Enumerable.Range(0, D).Sum(d => q[(query * H + h) * D + d] * k[((r * T + j) * KV + g) * D + d]) * scoreScale)];
            double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
            for (int i = 0; i < seen.Length; i++)
                for (int d = 0; d < D; d++)
                    output[(query * H + h) * D + d] += Math.Exp(scores[i] - max) / sum * v[((r * T + seen[i]) * KV + g) * D + d];
        }
        return output;
    }

    /// <summary>HF's rotate-half RoPE in place on [tokens, heads, D]: (x_i, x_{i+D/2}) turned by position·θ^(−2i/D).</summary>
    private void Rope(double[] x, int[] positions, int heads, double theta)
    {
        int D = config.HeadDim, half = D / 2;
        for (int t = 0; t < positions.Length; t++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < half; i++)
        {
            double angle = positions[t] * Math.Pow(theta, -2.0 * i / D);
            int a = (t * heads + h) * D + i, b = a + half;
            (x[a], x[b]) = (x[a] * Math.Cos(angle) - x[b] * Math.Sin(angle), x[b] * Math.Cos(angle) + x[a] * Math.Sin(angle));
        }
    }

    /// <summary>x/√(mean x² + eps)·w (Gemma: ·(1 + w)) over each run of w's length: a row, or each head of a row for a head norm.</summary>
    private double[] RmsNorm(double[] x, double[] w)
    {
        int c = w.Length;
        var y = new double[x.Length];
        for (int t = 0; t < x.Length / c; t++)
        {
            double meanSquare = Enumerable.Range(0, c).Sum(i => x[t * c + i] * x[t * c + i]) / c, inverse = 1 / Math.Sqrt(meanSquare + config.NormEps);
            for (int i = 0; i < c; i++) y[t * c + i] = x[t * c + i] * inverse * (config.Family == ModelFamily.Gemma3 ? 1 + w[i] : w[i]);
        }
        return y;
    }

    /// <summary>x·Wᵀ (+ bias when the checkpoint has one) for x [tokens, in] and the module's weight [out, in].</summary>
    private double[] Project(double[] x, int tokens, string module)
    {
        double[] w = weights[module + ".weight"];
        double[] y = MatMulTransposed(x, w, tokens);
        if (weights.TryGetValue(module + ".bias", out var bias))
            for (int i = 0; i < y.Length; i++) y[i] += bias[i % bias.Length];
        return y;
    }

    /// <summary>y[t, o] = Σ_i x[t, i]·w[o, i] for x [rows, in], w [out, in].</summary>
    private static double[] MatMulTransposed(double[] x, double[] w, int rows)
    {
        int inDim = x.Length / rows, outDim = w.Length / inDim;
        var y = new double[rows * outDim];
        for (int t = 0; t < rows; t++)
            for (int o = 0; o < outDim; o++)
            {
                double sum = 0;
                for (int i = 0; i < inDim; i++) sum += x[t * inDim + i] * w[o * inDim + i];
                y[t * outDim + o] = sum;
            }
        return y;
    }

    /// <summary>Columns [0, a), [a, a + b), [a + b, a + 2b) of y [rows, a + 2b] as three matrices.</summary>
    private static (double[], double[], double[]) Split3(double[] y, int rows, int a, int b) =>
        (Columns(y, rows, 0, a), Columns(y, rows, a, b), Columns(y, rows, a + b, b));

    /// <summary>The first and second half of each row of y [rows, 2f] (torch's chunk(2, dim=-1)).</summary>
    private static (double[], double[]) Halves(double[] y, int rows)
    {
        int f = y.Length / rows / 2;
        return (Columns(y, rows, 0, f), Columns(y, rows, f, f));
    }

    private static double[] Columns(double[] y, int rows, int first, int count)
    {
        int width = y.Length / rows;
        var part = new double[rows * count];
        for (int r = 0; r < rows; r++) Array.Copy(y, r * width + first, part, r * count, count);
        return part;
    }

    private static void Add(double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) x[i] += y[i];
    }
}
