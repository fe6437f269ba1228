using Engine.Autograd;
using Engine.Backends;
using Engine.Tensors;
using Engine.Training;

namespace Engine.Models;

/// <summary>
/// A decoder-only transformer of the GPT-2 or Llama family. Parameters carry Hugging Face Llama-style names;
/// GPT-2's parts map onto them (c_fc → mlp.up_proj, c_proj → mlp.down_proj, wpe → model.embed_positions).
/// </summary>
public sealed class Transformer : IDisposable
{
    private sealed record Linear(Variable Weight, Variable? Bias);
    private sealed record Norm(Variable Weight, Variable? Bias);
    private sealed record Block(Norm AttentionNorm, Linear Q, Linear K, Linear V, Linear O, Norm MlpNorm, Linear? Gate, Linear Up, Linear Down);

    private readonly List<Variable> _parameters = new();
    private readonly Variable _tokenEmbedding;
    private readonly Variable? _positionEmbedding;
    private readonly Block[] _blocks;
    private readonly Norm _finalNorm;
    private readonly Variable _head;
    private readonly Tensor? _ropeInvFreq;

    /// <summary>A freshly initialised model: N(0, 0.02) weights, residual projections scaled by 1/√(2·layers), zero biases, unit norms.</summary>
    public Transformer(IBackend backend, ModelConfig config, int seed) : this(backend, config, new Random(seed)) { }

    /// <summary>Weights drawn from rng, or, without one, zero weights and unit norms.</summary>
    private Transformer(IBackend backend, ModelConfig config, Random? rng)
    {
        config.Validate();
        Backend = backend;
        Config = config;
        int c = config.Dim, qDim = config.Heads * config.HeadDim, kvDim = config.KvHeads * config.HeadDim;
        float residualStd = 0.02f / MathF.Sqrt(2 * config.Layers);
        bool gpt2 = config.Family == ModelFamily.Gpt2;

        _tokenEmbedding = Parameter("model.embed_tokens.weight", rng, 0.02f, config.VocabSize, c);
        if (gpt2) _positionEmbedding = Parameter("model.embed_positions.weight", rng, 0.02f, config.ContextLength, c);
        _blocks = new Block[config.Layers];
        for (int l = 0; l < config.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            _blocks[l] = new Block(
                NewNorm(p + "input_layernorm", c),
                NewLinear(p + "self_attn.q_proj", rng, 0.02f, qDim, c, config.LinearBias || config.QkvBias),
                NewLinear(p + "self_attn.k_proj", rng, 0.02f, kvDim, c, config.LinearBias || config.QkvBias),
                NewLinear(p + "self_attn.v_proj", rng, 0.02f, kvDim, c, config.LinearBias || config.QkvBias),
                NewLinear(p + "self_attn.o_proj", rng, residualStd, c, qDim, config.LinearBias),
                NewNorm(p + "post_attention_layernorm", c),
                gpt2 ? null : NewLinear(p + "mlp.gate_proj", rng, 0.02f, config.FfnDim, c, false),
                NewLinear(p + "mlp.up_proj", rng, 0.02f, config.FfnDim, c, config.LinearBias),
                NewLinear(p + "mlp.down_proj", rng, residualStd, c, config.FfnDim, config.LinearBias));
        }
        _finalNorm = NewNorm("model.norm", c);
        _head = config.TiedEmbeddings ? _tokenEmbedding : Parameter("lm_head.weight", rng, 0.02f, config.VocabSize, c);

        if (!gpt2)
        {
            _ropeInvFreq = backend.Allocate(DType.F32, config.HeadDim / 2);
            backend.Upload(_ropeInvFreq, config.RopeInverseFrequencies());
        }
    }

    /// <summary>A model with zero weights and unit norms and no random draws: the shell a checkpoint loader fills.</summary>
    public static Transformer Empty(IBackend backend, ModelConfig config) => new(backend, config, rng: null);

    public IBackend Backend { get; }
    public ModelConfig Config { get; }

    /// <summary>Every parameter once (a tied head is the token embedding).</summary>
    public IReadOnlyList<Variable> Parameters => _parameters;

    public long ParameterCount => _parameters.Sum(p => p.Value.Length);

    /// <summary>
    /// Runs the model over a micro-batch and returns the summed cross-entropy over its target tokens.
    /// When the tape records gradients, the loss's gradient is seeded with gradScale (1 / target tokens in the whole step).
    /// </summary>
    public double Forward(Tape tape, Batch batch, float gradScale)
    {
        var (ids, positions, segments, targets) = Upload(tape, batch);
        var x = Hidden(tape, batch, ids, positions, segments);
        return tape.CrossEntropy(x, _head, targets, gradScale);
    }

    /// <summary>Logits [tokens, vocab] of a batch (no loss): for generation and tests on small vocabularies.</summary>
    public Variable Logits(Tape tape, Batch batch)
    {
        var (ids, positions, segments, _) = Upload(tape, batch);
        return tape.Linear(Hidden(tape, batch, ids, positions, segments), _head, null);
    }

    /// <summary>
    /// Logits [rows, vocab] of the token after each row's new tokens, running only those tokens against the keys and values in the cache
    /// (generation; the tape must not record gradients). ids and slots are [cache.Rows, newTokens]: slots[r, i] is token i's position in
    /// row r, which is also the cache slot its key and value are written to, or −1 for padding. A row's real tokens come last (padding first)
    /// and take the slots right after those already filled, so each row's logits are those at i = newTokens − 1.
    /// </summary>
    public Variable Decode(Tape tape, KvCache cache, int[] ids, int[] slots)
    {
        var cfg = Config;
        int rows = cache.Rows, newTokens = ids.Length / rows;
        if (ids.Length == 0 || ids.Length % rows != 0 || slots.Length != ids.Length)
            throw new ArgumentException($"ids ({ids.Length}) and slots ({slots.Length}) must both hold rows × newTokens entries for the cache's {rows} rows");
        foreach (int id in ids)
            if ((uint)id >= (uint)cfg.VocabSize) throw new ArgumentException($"token id {id} is outside the vocabulary of {cfg.VocabSize}");
        foreach (int slot in slots)
            if (slot < -1 || slot >= cache.Capacity) throw new ArgumentException($"slot {slot} is neither −1 (padding) nor a slot of the cache's {cache.Capacity}");
        var shape = new CachedAttentionShape(rows, newTokens, cache.Capacity, cfg.Heads, cfg.KvHeads, cfg.HeadDim);
        var slotsTensor = Ints(tape, slots);
        var positions = Ints(tape, slots.Select(s => Math.Max(s, 0)).ToArray());
        var x = tape.Embedding(Ints(tape, ids), positions, _tokenEmbedding, _positionEmbedding);
        for (int l = 0; l < _blocks.Length; l++)
        {
            var (keys, values) = (cache.Keys(l), cache.Values(l));
            x = BlockForward(tape, _blocks[l], x, positions, (q, k, v) => tape.CachedAttention(q, k, v, keys, values, slotsTensor, shape));
        }
        if (newTokens > 1)
        {
            var last = tape.Result([rows, cfg.Dim]);
            for (int r = 0; r < rows; r++)
                Backend.Copy(last.Value.View((long)r * cfg.Dim, cfg.Dim), x.Value.View(((long)r * newTokens + newTokens - 1) * cfg.Dim, cfg.Dim));
            x = last;
        }
        return tape.Linear(Normalize(tape, _finalNorm, x), _head, null);
    }

    private Variable Hidden(Tape tape, Batch batch, Tensor ids, Tensor positions, Tensor segments)
    {
        var cfg = Config;
        var shape = new AttentionShape(batch.Rows, batch.SeqLen, cfg.Heads, cfg.KvHeads, cfg.HeadDim);
        var x = tape.Embedding(ids, positions, _tokenEmbedding, _positionEmbedding);
        foreach (var block in _blocks)
            x = BlockForward(tape, block, x, positions, (q, k, v) => tape.Attention(q, k, v, segments, shape));
        return Normalize(tape, _finalNorm, x);
    }

    /// <summary>One block on the residual stream x: attention (q, k, v projected, RoPE at the given positions, then attend) and the MLP.</summary>
    private Variable BlockForward(Tape tape, Block block, Variable x, Tensor positions, Func<Variable, Variable, Variable, Variable> attend)
    {
        var h = Normalize(tape, block.AttentionNorm, x);
        var q = Project(tape, h, block.Q);
        var k = Project(tape, h, block.K);
        var v = Project(tape, h, block.V);
        if (_ropeInvFreq is not null)
        {
            q = tape.Rope(q, positions, _ropeInvFreq, Config.HeadDim);
            k = tape.Rope(k, positions, _ropeInvFreq, Config.HeadDim);
        }
        x = tape.Add(x, Project(tape, attend(q, k, v), block.O));

        h = Normalize(tape, block.MlpNorm, x);
        var m = block.Gate is null
            ? tape.Gelu(Project(tape, h, block.Up))
            : tape.SwiGlu(Project(tape, h, block.Gate), Project(tape, h, block.Up));
        return tape.Add(x, Project(tape, m, block.Down));
    }

    private static Variable Project(Tape tape, Variable x, Linear layer) => tape.Linear(x, layer.Weight, layer.Bias);

    private Variable Normalize(Tape tape, Norm norm, Variable x) => norm.Bias is null
        ? tape.RmsNorm(x, norm.Weight, Config.NormEps)
        : tape.LayerNorm(x, norm.Weight, norm.Bias, Config.NormEps);

    private (Tensor Ids, Tensor Positions, Tensor Segments, Tensor Targets) Upload(Tape tape, Batch batch)
    {
        batch.Validate(Config.VocabSize, Config.ContextLength);
        return (Ints(tape, batch.Ids), Ints(tape, batch.Positions), Ints(tape, batch.Segments), Ints(tape, batch.Targets));
    }

    private Tensor Ints(Tape tape, int[] values)
    {
        var t = tape.Allocate(DType.I32, values.Length);
        Backend.Upload(t, values);
        return t;
    }

    private Linear NewLinear(string name, Random? rng, float std, int outDim, int inDim, bool bias)
        => new(Parameter(name + ".weight", rng, std, outDim, inDim), bias ? Parameter(name + ".bias", null, 0, outDim) : null);

    private Norm NewNorm(string name, int c)
    {
        var weight = Parameter(name + ".weight", null, 0, c);
        Backend.Upload(weight.Value, Enumerable.Repeat(1f, c).ToArray());
        return new Norm(weight, Config.Family == ModelFamily.Gpt2 ? Parameter(name + ".bias", null, 0, c) : null);
    }

    /// <summary>A trainable parameter: N(0, std²) when rng is given, else zeros; its gradient buffer lives with it.</summary>
    private Variable Parameter(string name, Random? rng, float std, params int[] shape)
    {
        var value = Backend.Allocate(DType.F32, shape);
        if (rng is not null) Backend.Upload(value, Normal(rng, (int)value.Length, std));
        var p = new Variable(value, requiresGrad: true, name) { Grad = Backend.Allocate(DType.F32, shape) };
        _parameters.Add(p);
        return p;
    }

    private static float[] Normal(Random rng, int n, float std)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = (float)(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return a;
    }

    public void Dispose()
    {
        foreach (var p in _parameters)
        {
            p.Value.Dispose();
            p.Grad?.Dispose();
        }
        _ropeInvFreq?.Dispose();
    }
}
