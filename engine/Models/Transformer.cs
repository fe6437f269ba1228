using Engine.Autograd;
using Engine.Backends;
using Engine.Kernels;
using Engine.Tensors;
using Engine.Training;

namespace Engine.Models;

/// <summary>
/// A decoder-only transformer of the GPT-2 or Llama family (Mistral: Llama with a sliding attention window; Qwen3: with q/k norms per head;
/// Phi-3: Llama whose checkpoint fuses q/k/v and gate/up; Gemma 3: (1 + w) norms around attention and MLP, GeGLU, scaled embeddings,
/// sliding and global layers).
/// Parameters carry Hugging Face Llama-style names;
/// GPT-2's parts map onto them (c_fc → mlp.up_proj, c_proj → mlp.down_proj, wpe → model.embed_positions).
/// LoRA adapters (<see cref="AddLora"/>) attach to its linear layers by PEFT's module names and freeze the base weights.
/// </summary>
public sealed class Transformer : IDisposable
{
    /// <summary>A linear layer; with an adapter, AdapterB is its rows of the adapter's B (all of B, or one projection's rows of a fused module's).</summary>
    private sealed class Linear(Variable weight, Variable? bias)
    {
        public Variable Weight { get; } = weight;
        public Variable? Bias { get; } = bias;
        public LoraAdapter? Adapter { get; set; }
        public Variable? AdapterB { get; set; }
    }

    /// <summary>A module as PEFT names it and the linear layers it covers (GPT-2's c_attn covers q, k and v).</summary>
    private sealed record Module(string Name, Linear[] Linears);

    /// <summary>A norm's weight and bias (GPT-2's LayerNorm), or with Offset (Gemma 3's ones) an RMSNorm scaling by Offset + Weight.</summary>
    private sealed record Norm(Variable Weight, Variable? Bias, Variable? Offset);

    /// <summary>One block's parts; AttentionOutNorm and MlpOutNorm (Gemma 3) normalise the attention's and the MLP's outputs.</summary>
    private sealed record Block(
        Norm AttentionNorm, Linear Q, Linear K, Linear V, Norm? QNorm, Norm? KNorm, Linear O, Norm? AttentionOutNorm,
        Norm MlpNorm, Linear? Gate, Linear Up, Linear Down, Norm? MlpOutNorm);

    private readonly List<Variable> _parameters = new();
    private readonly List<LoraAdapter> _adapters = new();
    private readonly Variable _tokenEmbedding;
    private readonly Variable? _positionEmbedding;
    private readonly Block[] _blocks;
    private readonly Norm _finalNorm;
    private readonly Variable _head;
    private readonly Tensor? _ropeInvFreq, _slidingRopeInvFreq;
    private readonly Dictionary<int, Variable> _ones = new();

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
        bool gpt2 = config.Family == ModelFamily.Gpt2, gemma = config.IsGemma;

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
                config.HeadNorms ? NewNorm(p + "self_attn.q_norm", config.HeadDim) : null,
                config.HeadNorms ? NewNorm(p + "self_attn.k_norm", config.HeadDim) : null,
                NewLinear(p + "self_attn.o_proj", rng, residualStd, c, qDim, config.LinearBias),
                gemma ? NewNorm(p + "post_attention_layernorm", c) : null,
                NewNorm(p + (gemma ? "pre_feedforward_layernorm" : "post_attention_layernorm"), c),
                gpt2 ? null : NewLinear(p + "mlp.gate_proj", rng, 0.02f, config.FfnDim, c, false),
                NewLinear(p + "mlp.up_proj", rng, 0.02f, config.FfnDim, c, config.LinearBias),
                NewLinear(p + "mlp.down_proj", rng, residualStd, c, config.FfnDim, config.LinearBias),
                gemma ? NewNorm(p + "post_feedforward_layernorm", c) : null);
        }
        _finalNorm = NewNorm("model.norm", c);
        _head = config.TiedEmbeddings ? _tokenEmbedding : Parameter("lm_head.weight", rng, 0.02f, config.VocabSize, c);

        if (!gpt2)
        {
            _ropeInvFreq = backend.Allocate(DType.F32, config.HeadDim / 2);
            backend.Upload(_ropeInvFreq, config.RopeInverseFrequencies());
            if (config.SlidingRopeInverseFrequencies() is { } sliding)
            {
                _slidingRopeInvFreq = backend.Allocate(DType.F32, config.HeadDim / 2);
                backend.Upload(_slidingRopeInvFreq, sliding);
            }
        }
    }

    /// <summary>A model with zero weights and unit norms and no random draws: the shell a checkpoint loader fills.</summary>
    public static Transformer Empty(IBackend backend, ModelConfig config) => new(backend, config, rng: null);

    public IBackend Backend { get; }
    public ModelConfig Config { get; }

    /// <summary>Every parameter of the base model once (a tied head is the token embedding); adapters are in <see cref="Adapters"/>.</summary>
    public IReadOnlyList<Variable> Parameters => _parameters;

    public IReadOnlyList<LoraAdapter> Adapters => _adapters;

    /// <summary>The settings the adapters were made with; null without adapters.</summary>
    public LoraConfig? Lora { get; private set; }

    /// <summary>What an optimizer updates: every base parameter for full fine-tuning, only the adapters' A and B with LoRA.</summary>
    public IEnumerable<Variable> TrainableParameters =>
        _parameters.Concat(_adapters.SelectMany(a => a.Parameters)).Where(p => p.RequiresGrad);

    /// <summary>Parameters of the base model (adapters excluded).</summary>
    public long ParameterCount => _parameters.Sum(p => p.Value.Length);

    /// <summary>
    /// Attaches a LoRA adapter to every linear module the config targets (PEFT's names and matching), A kaiming-uniform as PEFT draws it
    /// (U(±1/√in)) and B zero, so the model's outputs are unchanged until training moves B; freezes every base parameter.
    /// </summary>
    public void AddLora(LoraConfig config, int seed)
    {
        config.Validate();
        if (_adapters.Count > 0) throw new InvalidOperationException("the model already has LoRA adapters");
        var modules = Modules().Where(m => config.Matches(m.Name)).ToList();
        if (modules.Count == 0)
            throw new ArgumentException($"LoRA targets {string.Join(",", config.Targets)} match no linear module of this {Config.Family} model; " +
                                        $"its modules end in {string.Join(", ", Modules().Select(m => m.Name[(m.Name.LastIndexOf('.') + 1)..]).Distinct())}");
        var rng = new Random(seed);
        foreach (var module in modules)
        {
            int inDim = module.Linears[0].Weight.Columns, outDim = module.Linears.Sum(l => l.Weight.Rows);
            var a = new Variable(Backend.Allocate(DType.F32, config.Rank, inDim), requiresGrad: true, module.Name + ".lora_A.weight");
            float bound = 1 / MathF.Sqrt(inDim);
            Backend.Upload(a.Value, Enumerable.Range(0, config.Rank * inDim).Select(_ => (float)(bound * (2 * rng.NextDouble() - 1))).ToArray());
            var b = new Variable(Backend.Allocate(DType.F32, outDim, config.Rank), requiresGrad: true, module.Name + ".lora_B.weight");
            var adapter = new LoraAdapter(module.Name, a, b, config.Scale, config.Dropout, _adapters.Count);
            _adapters.Add(adapter);
            int row = 0;
            foreach (var linear in module.Linears)
            {
                (linear.Adapter, linear.AdapterB) = (adapter, b.RowSlice(row, linear.Weight.Rows));
                row += linear.Weight.Rows;
            }
        }
        foreach (var p in _parameters) p.RequiresGrad = false;
        Lora = config;
    }

    /// <summary>Folds every adapter into its base weights (W += scale·B·A), removes the adapters and makes the base trainable again.</summary>
    public void MergeLora()
    {
        foreach (var module in Modules())
            foreach (var linear in module.Linears)
            {
                if (linear.Adapter is not { } lora) continue;
                var w = linear.Weight;
                int rank = lora.Rank, inDim = w.Columns, outDim = w.Rows;
                // delta = B_rows·A as a matmul y = x·Wᵀ with x = B_rows [out, rank] and W = Aᵀ [in, rank].
                var a = new float[rank * inDim];
                Backend.Download(lora.A.Value, a);
                var aTransposed = new float[inDim * rank];
                for (int r = 0; r < rank; r++)
                    for (int i = 0; i < inDim; i++) aTransposed[i * rank + r] = a[r * inDim + i];
                using var at = Backend.Allocate(DType.F32, inDim, rank);
                using var delta = Backend.Allocate(DType.F32, outDim, inDim);
                Backend.Upload(at, aTransposed);
                Backend.MatMulForward(delta, linear.AdapterB!.Value, at, null, outDim, rank, inDim);
                Backend.Scale(delta, lora.Scale);
                Backend.Add(w.Value, w.Value, delta);
                (linear.Adapter, linear.AdapterB) = (null, null);
            }
        foreach (var adapter in _adapters) adapter.Dispose();
        _adapters.Clear();
        Lora = null;
        foreach (var p in _parameters) p.RequiresGrad = true;
    }

    /// <summary>
    /// Runs the model over a micro-batch and adds the summed cross-entropy over its target tokens into loss [1] (F64), which stays on the
    /// backend (training reads it once per step). When the tape records gradients, the loss's gradient is seeded with the tape's
    /// <see cref="Tape.LossGradient"/>. dropoutSeed (training: <see cref="DropoutSeeds.MicroBatch"/>) switches LoRA dropout on and picks its
    /// masks; without it (evaluation) nothing is dropped.
    /// </summary>
    public void Forward(Tape tape, Batch batch, Tensor loss, uint? dropoutSeed = null)
    {
        var (ids, positions, segments) = Upload(tape, batch);
        var x = Hidden(tape, batch, ids, positions, segments, dropoutSeed);
        tape.CrossEntropy(x, _head, batch.Targets, loss);
    }

    /// <summary>The summed cross-entropy over the batch's target tokens, read back to the host (evaluation, scoring); as the other Forward.</summary>
    public double Forward(Tape tape, Batch batch, uint? dropoutSeed = null)
    {
        var loss = tape.Allocate(DType.F64, 1);
        Forward(tape, batch, loss, dropoutSeed);
        Span<double> value = stackalloc double[1];
        Backend.Download(loss, value);
        return value[0];
    }

    /// <summary>Logits [tokens, vocab] of a batch (no loss): for generation and tests on small vocabularies.</summary>
    public Variable Logits(Tape tape, Batch batch)
    {
        var (ids, positions, segments) = Upload(tape, batch);
        return tape.Linear(Hidden(tape, batch, ids, positions, segments, dropoutSeed: null), _head, null);
    }

    /// <summary>The final-normalised hidden states [tokens, dim] of a batch, before the head: what a text embedding pools.</summary>
    public Variable HiddenStates(Tape tape, Batch batch)
    {
        var (ids, positions, segments) = Upload(tape, batch);
        return Hidden(tape, batch, ids, positions, segments, dropoutSeed: null);
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
        var slotsTensor = Ints(tape, slots);
        var positions = Ints(tape, slots.Select(s => Math.Max(s, 0)).ToArray());
        var x = Embed(tape, Ints(tape, ids), positions);
        for (int l = 0; l < _blocks.Length; l++)
        {
            var (keys, values) = (cache.Keys(l), cache.Values(l));
            var shape = new CachedAttentionShape(rows, newTokens, cache.Capacity, cfg.Heads, cfg.KvHeads, cfg.HeadDim, cfg.AttentionWindow(l));
            x = BlockForward(tape, l, x, positions, dropoutSeed: null, (q, k, v) => tape.CachedAttention(q, k, v, keys, values, slotsTensor, shape));
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

    private Variable Hidden(Tape tape, Batch batch, Tensor ids, Tensor positions, Tensor segments, uint? dropoutSeed)
    {
        var cfg = Config;
        var x = Embed(tape, ids, positions);
        for (int l = 0; l < _blocks.Length; l++)
        {
            var shape = new AttentionShape(batch.Rows, batch.SeqLen, cfg.Heads, cfg.KvHeads, cfg.HeadDim, cfg.AttentionWindow(l));
            x = BlockForward(tape, l, x, positions, dropoutSeed, (q, k, v) => tape.Attention(q, k, v, segments, shape));
        }
        return Normalize(tape, _finalNorm, x);
    }

    /// <summary>Token embeddings (GPT-2: plus position embeddings); Gemma 3 multiplies them by √Dim, rounded to float32 as Gemma3TextScaledWordEmbedding does.</summary>
    private Variable Embed(Tape tape, Tensor ids, Tensor positions)
    {
        var x = tape.Embedding(ids, positions, _tokenEmbedding, _positionEmbedding);
        return Config.IsGemma ? tape.Scale(x, (float)Math.Sqrt(Config.Dim)) : x;
    }

    /// <summary>Layer l's block on the residual stream x: attention (q, k, v projected, each head of q and k normalised when the family has head
    /// norms, RoPE at the given positions with the layer's θ, then attend) and the MLP, each output normalised first when the family has
    /// output norms; dropoutSeed as in <see cref="Forward"/>.</summary>
    private Variable BlockForward(Tape tape, int l, Variable x, Tensor positions, uint? dropoutSeed, Func<Variable, Variable, Variable, Variable> attend)
    {
        var block = _blocks[l];
        var h = Normalize(tape, block.AttentionNorm, x);
        var q = Project(tape, h, block.Q, dropoutSeed);
        var k = Project(tape, h, block.K, dropoutSeed);
        var v = Project(tape, h, block.V, dropoutSeed);
        if (block.QNorm is not null)
        {
            q = Normalize(tape, block.QNorm, q);
            k = Normalize(tape, block.KNorm!, k);
        }
        if (_ropeInvFreq is not null)
        {
            var invFreq = Config.Slides(l) ? _slidingRopeInvFreq ?? _ropeInvFreq : _ropeInvFreq;
            q = tape.Rope(q, positions, invFreq, Config.HeadDim);
            k = tape.Rope(k, positions, invFreq, Config.HeadDim);
        }
        // The attention op divides scores by √HeadDim; Gemma 3's 1/√query_pre_attn_scalar is that times √(HeadDim / scalar), put on q.
        if (Config.QueryPreAttentionScalar is > 0 and var scalar && scalar != Config.HeadDim) q = tape.Scale(q, (float)Math.Sqrt(Config.HeadDim / scalar));
        var a = Project(tape, attend(q, k, v), block.O, dropoutSeed);
        x = tape.Add(x, block.AttentionOutNorm is null ? a : Normalize(tape, block.AttentionOutNorm, a));

        h = Normalize(tape, block.MlpNorm, x);
        var m = block.Gate is null ? tape.Gelu(Project(tape, h, block.Up, dropoutSeed))
            : Config.IsGemma ? tape.GeGlu(Project(tape, h, block.Gate, dropoutSeed), Project(tape, h, block.Up, dropoutSeed))
            : tape.SwiGlu(Project(tape, h, block.Gate, dropoutSeed), Project(tape, h, block.Up, dropoutSeed));
        var d = Project(tape, m, block.Down, dropoutSeed);
        return tape.Add(x, block.MlpOutNorm is null ? d : Normalize(tape, block.MlpOutNorm, d));
    }

    /// <summary>The linear modules under PEFT's names: for Llama the weights' own names, for GPT-2 GPT2LMHeadModel's (c_attn = q, k, v), for
    /// Phi-3 Phi3ForCausalLM's (qkv_proj = q, k, v; gate_up_proj = gate, up).</summary>
    private IEnumerable<Module> Modules()
    {
        static Module Own(Linear linear) => new(linear.Weight.Name[..^".weight".Length], [linear]);
        for (int l = 0; l < _blocks.Length; l++)
        {
            var b = _blocks[l];
            if (b.Gate is null)
            {
                string p = $"transformer.h.{l}.";
                yield return new(p + "attn.c_attn", [b.Q, b.K, b.V]);
                yield return new(p + "attn.c_proj", [b.O]);
                yield return new(p + "mlp.c_fc", [b.Up]);
                yield return new(p + "mlp.c_proj", [b.Down]);
            }
            else if (Config.FusedProjections)
            {
                string p = $"model.layers.{l}.";
                yield return new(p + "self_attn.qkv_proj", [b.Q, b.K, b.V]);
                yield return Own(b.O);
                yield return new(p + "mlp.gate_up_proj", [b.Gate, b.Up]);
                yield return Own(b.Down);
            }
            else
                foreach (var linear in new[] { b.Q, b.K, b.V, b.O, b.Gate, b.Up, b.Down }) yield return Own(linear);
        }
    }

    /// <summary>x·Wᵀ + b, plus the adapter's scale·(x·Aᵀ)·Bᵀ. With dropout in training, the adapter sees dropout(x): the op
    /// x ⊙ mask with mask ∈ {0, scale/(1 − p)} carries the LoRA scale too, so the low-rank path is two plain matmuls.</summary>
    private static Variable Project(Tape tape, Variable x, Linear layer, uint? dropoutSeed)
    {
        if (layer.Adapter is not { } lora) return tape.Linear(x, layer.Weight, layer.Bias);
        var b = layer.AdapterB!;
        if (dropoutSeed is not { } seed || lora.Dropout == 0) return tape.Lora(x, layer.Weight, layer.Bias, lora.A, b, lora.Scale);
        var dropped = tape.Dropout(x, lora.Dropout, lora.Scale / (1 - lora.Dropout), DropoutSeeds.Adapter(seed, lora.Index));
        return tape.Add(tape.Linear(x, layer.Weight, layer.Bias), tape.Linear(tape.Linear(dropped, lora.A, null), b, null));
    }

    private Variable Normalize(Tape tape, Norm norm, Variable x) => norm.Bias is not null
        ? tape.LayerNorm(x, norm.Weight, norm.Bias, Config.NormEps)
        : tape.RmsNorm(x, norm.Offset is null ? norm.Weight : tape.Add(norm.Offset, norm.Weight), Config.NormEps);

    private (Tensor Ids, Tensor Positions, Tensor Segments) Upload(Tape tape, Batch batch)
    {
        batch.Validate(Config.VocabSize, Config.ContextLength);
        return (Ints(tape, batch.Ids), Ints(tape, batch.Positions), Ints(tape, batch.Segments));
    }

    private Tensor Ints(Tape tape, int[] values)
    {
        var t = tape.Allocate(DType.I32, values.Length);
        Backend.Upload(t, values);
        return t;
    }

    private Linear NewLinear(string name, Random? rng, float std, int outDim, int inDim, bool bias)
        => new(Parameter(name + ".weight", rng, std, outDim, inDim), bias ? Parameter(name + ".bias", null, 0, outDim) : null);

    /// <summary>A norm over c features that starts as the identity scale: a unit weight (GPT-2: with a zero bias), or Gemma 3's zero offset
    /// from c ones; for a head norm c is HeadDim, and <see cref="Normalize"/> applies it to each head of a row.</summary>
    private Norm NewNorm(string name, int c)
    {
        var weight = Parameter(name + ".weight", null, 0, c);
        if (Config.IsGemma) return new Norm(weight, null, Ones(c));
        Backend.Upload(weight.Value, Enumerable.Repeat(1f, c).ToArray());
        return new Norm(weight, Config.Family == ModelFamily.Gpt2 ? Parameter(name + ".bias", null, 0, c) : null, null);
    }

    /// <summary>A constant vector of c ones (no gradient), one per length.</summary>
    private Variable Ones(int c)
    {
        if (_ones.TryGetValue(c, out var ones)) return ones;
        ones = new Variable(Backend.Allocate(DType.F32, c), requiresGrad: false, $"ones[{c}]");
        Backend.Upload(ones.Value, Enumerable.Repeat(1f, c).ToArray());
        return _ones[c] = ones;
    }

    /// <summary>A trainable parameter: N(0, std²) when rng is given, else zeros. Its gradient buffer is the trainer's to allocate.</summary>
    private Variable Parameter(string name, Random? rng, float std, params int[] shape)
    {
        var value = Backend.Allocate(DType.F32, shape);
        if (rng is not null) Backend.Upload(value, Normal(rng, (int)value.Length, std));
        var p = new Variable(value, requiresGrad: true, name);
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
        foreach (var p in _parameters) p.Release();
        foreach (var adapter in _adapters) adapter.Dispose();
        foreach (var ones in _ones.Values) ones.Release();
        _ropeInvFreq?.Dispose();
        _slidingRopeInvFreq?.Dispose();
    }
}
