using System.Buffers.Binary;
using Engine.Backends;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Models;
using Xunit;
using Engine.Tests.Support;

namespace Engine.Tests.IO;

public class LlmcCheckpointTests
{
    private const int PaddedVocab = 16;

    /// <summary>
    /// The model's weights in llm.c's layout, written here as train_gpt2.py's write_model does: the 256-int header, then wte padded
    /// to Vp rows (the padding filled with 99 so a reader that keeps it is caught), wpe, and each [L, ...] parameter with layer 0 first;
    /// qkvw holds q, k, v rows one after another; every matrix [out, in]. Version 5 stores bfloat16 (rounded to nearest even).
    /// </summary>
    private static byte[] LlmcBytes(Transformer model, int version)
    {
        var c = model.Config;
        var w = IoFiles.Snapshot(model);
        var values = new List<float>();
        void Each(params string[] names)
        {
            for (int l = 0; l < c.Layers; l++)
                foreach (var name in names) values.AddRange(w[$"model.layers.{l}.{name}"]);
        }
        values.AddRange(w["model.embed_tokens.weight"]);
        values.AddRange(Enumerable.Repeat(99f, (PaddedVocab - c.VocabSize) * c.Dim));
        values.AddRange(w["model.embed_positions.weight"]);
        Each("input_layernorm.weight");
        Each("input_layernorm.bias");
        Each("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight");
        Each("self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias");
        Each("self_attn.o_proj.weight");
        Each("self_attn.o_proj.bias");
        Each("post_attention_layernorm.weight");
        Each("post_attention_layernorm.bias");
        Each("mlp.up_proj.weight");
        Each("mlp.up_proj.bias");
        Each("mlp.down_proj.weight");
        Each("mlp.down_proj.bias");
        values.AddRange(w["model.norm.weight"]);
        values.AddRange(w["model.norm.bias"]);

        int size = version == 3 ? 4 : 2;
        var bytes = new byte[1024 + values.Count * size];
        int[] header = [LlmcCheckpoint.Magic, version, c.ContextLength, c.VocabSize, c.Layers, c.Heads, c.Dim, PaddedVocab];
        for (int i = 0; i < header.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4 * i), header[i]);
        for (int i = 0; i < values.Count; i++)
        {
            if (version == 3) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(1024 + 4 * i), values[i]);
            else BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(1024 + 2 * i), (ushort)(BitConverter.SingleToUInt32Bits(IoFiles.RoundToBf16(values[i])) >> 16));
        }
        return bytes;
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void LoadsTheLlmcLayout(int version)
    {
        using var dir = new TempDirectory();
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 11);
        string path = dir.File("gpt2.bin");
        File.WriteAllBytes(path, LlmcBytes(model, version));

        using var loaded = LlmcCheckpoint.Load(path, backend);
        Assert.Equal(ModelConfig.Gpt2(vocabSize: 11, contextLength: 8, layers: 2, dim: 8, heads: 2), loaded.Config);
        var got = IoFiles.Snapshot(loaded);
        foreach (var (name, values) in IoFiles.Snapshot(model))
            IoFiles.AssertBitEqual(version == 3 ? values : values.Select(IoFiles.RoundToBf16).ToArray(), got[name], name);
    }

    [Fact]
    public void BadHeadersAndTruncationFailNamingTheFile()
    {
        using var dir = new TempDirectory();
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, TinyModels.Gpt2(), seed: 12);
        byte[] valid = LlmcBytes(model, 3);
        string path = dir.File("bad.bin");

        string Error(byte[] bytes)
        {
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<CheckpointFormatException>(() => LlmcCheckpoint.Load(path, backend).Dispose());
            Assert.StartsWith(path + ":", e.Message);
            return e.Message;
        }
        byte[] With(int field, int value)
        {
            var bytes = (byte[])valid.Clone();
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4 * field), value);
            return bytes;
        }

        Assert.Contains("magic number 1234", Error(With(0, 1234)));
        Assert.Contains("version 1 is not supported", Error(With(1, 1)));
        Assert.Contains("truncated", Error(valid[..^4]));
        Assert.Contains("shorter than llm.c's 1024-byte header", Error(valid[..100]));
        Assert.Contains("Vp = 5 is smaller than V = 11", Error(With(7, 5)));
        Assert.Contains("header L is 0", Error(With(4, 0)));
        Assert.Contains("C = 8 is not a multiple of NH = 3", Error(With(5, 3)));
        Assert.Contains("more than a file can hold", Error(With(6, 1 << 30)));
    }
}
