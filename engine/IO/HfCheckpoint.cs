using System.Text.RegularExpressions;
using Engine.Autograd;
using Engine.Backends;
using Engine.Models;
using Engine.Tensors;

namespace Engine.IO;

/// <summary>
/// Hugging Face model directories (config.json + model.safetensors, or shards with model.safetensors.index.json) to and from a
/// <see cref="Transformer"/>. Llama, Qwen2, Mistral, Qwen3 and Gemma 3 tensors carry the engine's own names; Phi-3's qkv_proj [q; k; v] and
/// gate_up_proj [gate; up] hold the engine's projections as consecutive row blocks, split on load and joined on save. GPT-2's are mapped: its Conv1D weights are stored
/// [in, out] and are transposed, c_attn holds q, k and v side by side, and keys carry GPT2LMHeadModel's "transformer." prefix
/// (written always, as save_pretrained does; read with or without it).
/// </summary>
public static partial class HfCheckpoint
{
    /// <summary>GPT2LMHeadModel's prefix on the tensors of its GPT2Model (all but lm_head).</summary>
    private const string Gpt2Prefix = "transformer.";

    /// <summary>How one of the engine's parameters sits inside a checkpoint tensor: as a flat range from Offset (Same layout, shape aside;
    /// a row block of a fused Linear), or transposed from the columns [Offset, Offset + rows) of a Conv1D [in, out] matrix.</summary>
    private sealed record Piece(string Parameter, bool Conv1D, int Offset);

    /// <summary>One tensor of the checkpoint, its shape, and the parameters it holds.</summary>
    private sealed record HfTensor(string Name, int[] Shape, Piece[] Pieces);

    /// <summary>
    /// Loads config.json and the weights onto the backend. Every tensor the config implies must be present with its shape,
    /// and no other tensor may be (buffers transformers itself ignores excepted); errors name the file and the tensor.
    /// </summary>
    public static Transformer Load(string directory, IBackend backend)
    {
        string configPath = Path.Combine(directory, HfConfig.FileName);
        var config = HfConfig.Read(configPath);
        using var checkpoint = ShardedCheckpoint.Open(directory);
        string prefix = config.Family == ModelFamily.Gpt2 && checkpoint.Contains(Gpt2Prefix + "wte.weight") ? Gpt2Prefix : "";
        var tensors = Layout(config, prefix);
        Check(checkpoint, tensors, config, prefix, configPath);
        var model = Transformer.Empty(backend, config);
        try
        {
            var parameters = Parameters(model, tensors);
            foreach (var tensor in tensors) LoadTensor(checkpoint, tensor, parameters, backend);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes config.json (with metadata's special-token ids), generation_config.json and the weights (model.safetensors, or shards of
    /// at most maxShardBytes each with an index) in Hugging Face layout and names; a tied head is not written. F32 reloads bit-exact;
    /// BF16 and F16 round to nearest even.
    /// </summary>
    public static void Save(Transformer model, string directory, SafeTensorsDType dtype = SafeTensorsDType.F32, long? maxShardBytes = null,
        ModelMetadata? metadata = null)
    {
        metadata ??= ModelMetadata.None;
        var layout = Layout(model.Config, model.Config.Family == ModelFamily.Gpt2 ? Gpt2Prefix : "");
        var parameters = Parameters(model, layout);
        var tensors = layout.Select(t => new NamedTensor(t.Name, t.Shape, values => Gather(t, parameters, model.Backend, values))).ToArray();
        ShardedCheckpoint.Write(directory, tensors, dtype, maxShardBytes);
        HfConfig.Write(model.Config, Path.Combine(directory, HfConfig.FileName), dtype, metadata.Ids);
        string generation = metadata.GenerationConfig();
        AtomicFile.Write(Path.Combine(directory, ModelMetadata.GenerationConfigFile), stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(generation)));
    }

    /// <summary>The checkpoint's tensors for a config, so a checkpoint is checked before any model memory is allocated.</summary>
    private static List<HfTensor> Layout(ModelConfig c, string prefix)
    {
        int qDim = c.Heads * c.HeadDim, kvDim = c.KvHeads * c.HeadDim;
        var tensors = new List<HfTensor>();
        void Same(string name, string parameter, params int[] shape) => tensors.Add(new HfTensor(prefix + name, shape, [new Piece(parameter, false, 0)]));
        void Conv1D(string name, string parameter, int inDim, int outDim) => tensors.Add(new HfTensor(prefix + name, [inDim, outDim], [new Piece(parameter, true, 0)]));

        if (c.Family != ModelFamily.Gpt2)
        {
            void Own(string name, params int[] shape) => Same(name, name, shape);
            // A fused nn.Linear [Σ rows, in]: the parameters' row blocks one after another.
            void Fused(string name, int inDim, params (string Parameter, int Rows)[] parts)
            {
                var pieces = new Piece[parts.Length];
                for (int i = 0, row = 0; i < parts.Length; row += parts[i].Rows, i++) pieces[i] = new Piece(parts[i].Parameter, false, row * inDim);
                tensors.Add(new HfTensor(prefix + name, [parts.Sum(part => part.Rows), inDim], pieces));
            }
            Own("model.embed_tokens.weight", c.VocabSize, c.Dim);
            for (int l = 0; l < c.Layers; l++)
            {
                string p = $"model.layers.{l}.";
                Own(p + "input_layernorm.weight", c.Dim);
                if (c.FusedProjections)
                    Fused(p + "self_attn.qkv_proj.weight", c.Dim, (p + "self_attn.q_proj.weight", qDim), (p + "self_attn.k_proj.weight", kvDim),
                        (p + "self_attn.v_proj.weight", kvDim));
                else
                    foreach (var (projection, rows) in new[] { ("q", qDim), ("k", kvDim), ("v", kvDim) })
                    {
                        Own(p + $"self_attn.{projection}_proj.weight", rows, c.Dim);
                        if (c.QkvBias) Own(p + $"self_attn.{projection}_proj.bias", rows);
                    }
                if (c.HeadNorms)
                {
                    Own(p + "self_attn.q_norm.weight", c.HeadDim);
                    Own(p + "self_attn.k_norm.weight", c.HeadDim);
                }
                Own(p + "self_attn.o_proj.weight", c.Dim, qDim);
                Own(p + "post_attention_layernorm.weight", c.Dim);
                if (c.IsGemma)
                {
                    Own(p + "pre_feedforward_layernorm.weight", c.Dim);
                    Own(p + "post_feedforward_layernorm.weight", c.Dim);
                }
                if (c.FusedProjections)
                {
                    Fused(p + "mlp.gate_up_proj.weight", c.Dim, (p + "mlp.gate_proj.weight", c.FfnDim), (p + "mlp.up_proj.weight", c.FfnDim));
                }
                else
                {
                    Own(p + "mlp.gate_proj.weight", c.FfnDim, c.Dim);
                    Own(p + "mlp.up_proj.weight", c.FfnDim, c.Dim);
                }
                Own(p + "mlp.down_proj.weight", c.Dim, c.FfnDim);
            }
            Own("model.norm.weight", c.Dim);
            if (!c.TiedEmbeddings) Own("lm_head.weight", c.VocabSize, c.Dim);
            return tensors;
        }

        Same("wte.weight", "model.embed_tokens.weight", c.VocabSize, c.Dim);
        Same("wpe.weight", "model.embed_positions.weight", c.ContextLength, c.Dim);
        for (int l = 0; l < c.Layers; l++)
        {
            string h = $"h.{l}.", ours = $"model.layers.{l}.";
            Same(h + "ln_1.weight", ours + "input_layernorm.weight", c.Dim);
            Same(h + "ln_1.bias", ours + "input_layernorm.bias", c.Dim);
            tensors.Add(new HfTensor(prefix + h + "attn.c_attn.weight", [c.Dim, qDim + 2 * kvDim],
                [new Piece(ours + "self_attn.q_proj.weight", true, 0), new Piece(ours + "self_attn.k_proj.weight", true, qDim),
                 new Piece(ours + "self_attn.v_proj.weight", true, qDim + kvDim)]));
            tensors.Add(new HfTensor(prefix + h + "attn.c_attn.bias", [qDim + 2 * kvDim],
                [new Piece(ours + "self_attn.q_proj.bias", false, 0), new Piece(ours + "self_attn.k_proj.bias", false, qDim),
                 new Piece(ours + "self_attn.v_proj.bias", false, qDim + kvDim)]));
            Conv1D(h + "attn.c_proj.weight", ours + "self_attn.o_proj.weight", qDim, c.Dim);
            Same(h + "attn.c_proj.bias", ours + "self_attn.o_proj.bias", c.Dim);
            Same(h + "ln_2.weight", ours + "post_attention_layernorm.weight", c.Dim);
            Same(h + "ln_2.bias", ours + "post_attention_layernorm.bias", c.Dim);
            Conv1D(h + "mlp.c_fc.weight", ours + "mlp.up_proj.weight", c.Dim, c.FfnDim);
            Same(h + "mlp.c_fc.bias", ours + "mlp.up_proj.bias", c.FfnDim);
            Conv1D(h + "mlp.c_proj.weight", ours + "mlp.down_proj.weight", c.FfnDim, c.Dim);
            Same(h + "mlp.c_proj.bias", ours + "mlp.down_proj.bias", c.Dim);
        }
        Same("ln_f.weight", "model.norm.weight", c.Dim);
        Same("ln_f.bias", "model.norm.bias", c.Dim);
        if (!c.TiedEmbeddings) tensors.Add(new HfTensor("lm_head.weight", [c.VocabSize, c.Dim], [new Piece("lm_head.weight", false, 0)]));
        return tensors;
    }

    /// <summary>The model's parameters by name, which must be exactly those the layout fills, with as many elements as their tensors hold.</summary>
    private static Dictionary<string, Variable> Parameters(Transformer model, List<HfTensor> layout)
    {
        var parameters = model.Parameters.ToDictionary(p => p.Name);
        var filled = layout.SelectMany(t => t.Pieces).Select(p => p.Parameter).ToHashSet();
        if (!filled.SetEquals(parameters.Keys))
            throw new InvalidOperationException($"the checkpoint layout and the model's parameters differ: {string.Join(", ", filled.Except(parameters.Keys).Concat(parameters.Keys.Except(filled)))}");
        foreach (var tensor in layout)
            if (tensor.Pieces.Sum(p => parameters[p.Parameter].Value.Length) != Tensor.ElementCount(tensor.Shape))
                throw new InvalidOperationException($"the checkpoint layout's {tensor.Name} {Shape(tensor.Shape)} does not match the size of the model's {string.Join(" + ", tensor.Pieces.Select(p => p.Parameter))}");
        return parameters;
    }

    /// <summary>Every expected tensor present with its shape and a float dtype; nothing else but known buffers and a tied head's copy.</summary>
    private static void Check(ShardedCheckpoint checkpoint, List<HfTensor> tensors, ModelConfig c, string prefix, string configPath)
    {
        var missing = tensors.Where(t => !checkpoint.Contains(t.Name)).Select(t => t.Name).ToList();
        if (missing.Count > 0)
            throw new CheckpointFormatException($"{checkpoint.Directory}: missing {missing.Count} tensor(s) that {configPath} implies: {Sample(missing)}");

        foreach (var tensor in tensors)
        {
            var info = checkpoint.Info(tensor.Name);
            string file = checkpoint.FileOf(tensor.Name);
            if (info.DType is not (SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16))
                throw new CheckpointFormatException($"{file}: tensor '{tensor.Name}' has dtype {SafeTensors.Name(info.DType)}; weights must be F32, F16 or BF16");
            if (info.Shape.SequenceEqual(tensor.Shape)) continue;
            bool vocabRows = tensor.Pieces[0].Parameter is "model.embed_tokens.weight" or "lm_head.weight"
                && info.Shape.Length == 2 && info.Shape[1] == c.Dim && info.Shape[0] != c.VocabSize;
            throw new CheckpointFormatException(vocabRows
                ? $"{file}: tensor '{tensor.Name}' has {info.Shape[0]} rows but {configPath} says vocab_size is {c.VocabSize}"
                : $"{file}: tensor '{tensor.Name}' has shape {Shape(info.Shape)}, expected {Shape(tensor.Shape)} from {configPath}");
        }

        var expected = tensors.Select(t => t.Name).ToHashSet();
        var unexpected = checkpoint.Names.Where(n => !expected.Contains(n) && !Ignored(n, c, prefix)).ToList();
        if (unexpected.Count > 0)
            throw new CheckpointFormatException($"{checkpoint.Directory}: {unexpected.Count} unexpected tensor(s) that a {HfConfig.ModelType(c)} model with this config does not have: {Sample(unexpected)}");
    }

    /// <summary>Buffers transformers saves in older checkpoints and ignores on load, and the copy of a tied head.</summary>
    private static bool Ignored(string name, ModelConfig config, string prefix)
    {
        if (name == "lm_head.weight" && config.TiedEmbeddings) return true;
        return config.Family == ModelFamily.Gpt2
            ? name.StartsWith(prefix, StringComparison.Ordinal) && Gpt2AttentionBuffer().IsMatch(name[prefix.Length..])
            : LlamaRotaryBuffer().IsMatch(name);
    }

    private static void LoadTensor(ShardedCheckpoint checkpoint, HfTensor tensor, Dictionary<string, Variable> parameters, IBackend backend)
    {
        float[] values = checkpoint.ReadFloats(tensor.Name);
        foreach (var piece in tensor.Pieces)
        {
            var parameter = parameters[piece.Parameter].Value;
            if (!piece.Conv1D && piece.Offset == 0 && parameter.Length == values.Length)
            {
                backend.Upload(parameter, values);
                continue;
            }
            var part = new float[parameter.Length];
            if (piece.Conv1D)
            {
                int rows = parameter.Shape[0], inDim = parameter.Shape[1], columns = tensor.Shape[1];
                for (int o = 0; o < rows; o++)
                    for (int i = 0; i < inDim; i++)
                        part[o * inDim + i] = values[(long)i * columns + piece.Offset + o];
            }
            else
            {
                Array.Copy(values, piece.Offset, part, 0, part.Length);
            }
            backend.Upload(parameter, part);
        }
    }

    /// <summary>The inverse of LoadTensor: fills a checkpoint tensor's values from the parameters it holds.</summary>
    private static void Gather(HfTensor tensor, Dictionary<string, Variable> parameters, IBackend backend, Span<float> values)
    {
        foreach (var piece in tensor.Pieces)
        {
            var parameter = parameters[piece.Parameter].Value;
            if (!piece.Conv1D)
            {
                backend.Download(parameter, values.Slice(piece.Offset, (int)parameter.Length));
                continue;
            }
            var part = new float[parameter.Length];
            backend.Download(parameter, part);
            int rows = parameter.Shape[0], inDim = parameter.Shape[1], columns = tensor.Shape[1];
            for (int o = 0; o < rows; o++)
                for (int i = 0; i < inDim; i++)
                    values[i * columns + piece.Offset + o] = part[o * inDim + i];
        }
    }

    private static string Shape(int[] shape) => $"[{string.Join(", ", shape)}]";

    private static string Sample(List<string> names) => string.Join(", ", names.Take(10)) + (names.Count > 10 ? $", … ({names.Count - 10} more)" : "");

    [GeneratedRegex(@"^h\.\d+\.attn\.(bias|masked_bias)$")]
    private static partial Regex Gpt2AttentionBuffer();

    [GeneratedRegex(@"^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$")]
    private static partial Regex LlamaRotaryBuffer();
}
