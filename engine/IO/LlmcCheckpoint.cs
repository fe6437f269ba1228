using System.Buffers.Binary;
using Engine.Backends;
using Engine.Models;

namespace Engine.IO;

/// <summary>
/// llm.c's GPT-2 checkpoints (train_gpt2.c's gpt2_build_from_checkpoint): a header of 256 little-endian int32 — magic 20240326,
/// version 3 (float32) or 5 (bfloat16), maxT, V, L, NH, C, Vp (the vocabulary padded for the kernels) — then the 16 parameter
/// tensors back to back: wte [Vp, C], wpe [maxT, C], ln1w [L, C], ln1b [L, C], qkvw [L, 3C, C], qkvb [L, 3C], attprojw [L, C, C],
/// attprojb [L, C], ln2w [L, C], ln2b [L, C], fcw [L, 4C, C], fcb [L, 4C], fcprojw [L, C, 4C], fcprojb [L, C], lnfw [C], lnfb [C].
/// Matrices are already [out, in]; the padded vocabulary rows beyond V are dropped.
/// </summary>
public static class LlmcCheckpoint
{
    public const int Magic = 20240326;
    private const int HeaderInts = 256;

    /// <summary>Reads the checkpoint onto the backend as a GPT-2-family model (LayerNorm eps 1e-5, as llm.c), streaming tensor by tensor.</summary>
    public static Transformer Load(string path, IBackend backend)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 20);
        var (config, padded, elementSize) = ReadHeader(stream, path);
        var model = Transformer.Empty(backend, config);
        try
        {
            var reader = new ParameterReader(stream, model, elementSize);
            int c = config.Dim, layers = config.Layers;
            reader.Next("model.embed_tokens.weight");
            reader.Skip((long)(padded - config.VocabSize) * c);
            reader.Next("model.embed_positions.weight");
            reader.PerLayer(layers, "input_layernorm.weight");
            reader.PerLayer(layers, "input_layernorm.bias");
            reader.PerLayer(layers, "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight");
            reader.PerLayer(layers, "self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias");
            reader.PerLayer(layers, "self_attn.o_proj.weight");
            reader.PerLayer(layers, "self_attn.o_proj.bias");
            reader.PerLayer(layers, "post_attention_layernorm.weight");
            reader.PerLayer(layers, "post_attention_layernorm.bias");
            reader.PerLayer(layers, "mlp.up_proj.weight");
            reader.PerLayer(layers, "mlp.up_proj.bias");
            reader.PerLayer(layers, "mlp.down_proj.weight");
            reader.PerLayer(layers, "mlp.down_proj.bias");
            reader.Next("model.norm.weight");
            reader.Next("model.norm.bias");
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The config, the padded vocabulary and the bytes per element; checks the file is exactly as long as the header implies.</summary>
    private static (ModelConfig Config, int PaddedVocab, int ElementSize) ReadHeader(FileStream stream, string path)
    {
        if (stream.Length < HeaderInts * 4)
            throw new CheckpointFormatException($"{path}: {stream.Length} bytes, shorter than llm.c's {HeaderInts * 4}-byte header: truncated");
        var bytes = new byte[HeaderInts * 4];
        stream.ReadExactly(bytes);
        int Field(int i) => BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4 * i));
        if (Field(0) != Magic) throw new CheckpointFormatException($"{path}: magic number {Field(0)}, expected {Magic}: not an llm.c GPT-2 checkpoint");
        int elementSize = Field(1) switch
        {
            3 => 4,
            5 => 2,
            _ => throw new CheckpointFormatException($"{path}: version {Field(1)} is not supported: 3 (float32) or 5 (bfloat16)"),
        };
        int maxT = Field(2), vocab = Field(3), layers = Field(4), heads = Field(5), c = Field(6), padded = Field(7);
        foreach (var (name, value) in new[] { ("maxT", maxT), ("V", vocab), ("L", layers), ("NH", heads), ("C", c), ("Vp", padded) })
            if (value <= 0) throw new CheckpointFormatException($"{path}: header {name} is {value}, expected > 0");
        if (padded < vocab) throw new CheckpointFormatException($"{path}: padded vocabulary Vp = {padded} is smaller than V = {vocab}");
        if (c % heads != 0) throw new CheckpointFormatException($"{path}: C = {c} is not a multiple of NH = {heads}");

        long expected;
        try
        {
            long perLayer = checked(12L * c * c + 13L * c);
            expected = checked(HeaderInts * 4 + ((long)padded * c + (long)maxT * c + layers * perLayer + 2L * c) * elementSize);
        }
        catch (OverflowException)
        {
            expected = -1;
        }
        if (stream.Length != expected)
            throw new CheckpointFormatException(
                $"{path}: {stream.Length} bytes, but the header (maxT {maxT}, V {vocab}, Vp {padded}, L {layers}, C {c}) implies {(expected < 0 ? "more than a file can hold" : expected.ToString())}: truncated or corrupt");
        return (ModelConfig.Gpt2(vocab, maxT, layers, c, heads), padded, elementSize);
    }

    /// <summary>Reads consecutive parameter tensors from the stream, converting to float32, and uploads each into the model.</summary>
    private sealed class ParameterReader(Stream stream, Transformer model, int elementSize)
    {
        private readonly Dictionary<string, Autograd.Variable> _parameters = model.Parameters.ToDictionary(p => p.Name);
        private byte[] _bytes = [];

        public void Next(string name)
        {
            var tensor = _parameters[name].Value;
            var values = new float[tensor.Length];
            int bytes = values.Length * elementSize;
            if (_bytes.Length < bytes) _bytes = new byte[bytes];
            stream.ReadExactly(_bytes, 0, bytes);
            if (elementSize == 4) FloatFormats.F32ToFloat(_bytes.AsSpan(0, bytes), values);
            else FloatFormats.Bf16ToFloat(_bytes.AsSpan(0, bytes), values);
            model.Backend.Upload(tensor, values);
        }

        /// <summary>An [L, ...] tensor of llm.c: for each layer in turn, the named parameters of that layer, one after another.</summary>
        public void PerLayer(int layers, params string[] names)
        {
            for (int l = 0; l < layers; l++)
                foreach (var name in names) Next($"model.layers.{l}.{name}");
        }

        public void Skip(long elements) => stream.Seek(elements * elementSize, SeekOrigin.Current);
    }
}
