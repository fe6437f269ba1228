using System.Globalization;
using Engine.Autograd;
using Engine.Backends;
using Engine.Eval;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Tests.Support;
using Engine.Tokenizers;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>
/// A Mistral model directory written from the float64 reference's own weights (config.json as transformers writes a MistralConfig, model.safetensors
/// under the Hugging Face names, the byte-level chat tokenizer's files), with a window of 5 tokens, shorter than the data's rows: it loads with the
/// reference's logits, trains with `engine sft`, saves back as Mistral, and answers with `engine generate`.
/// </summary>
public sealed class MistralCliTests : IDisposable
{
    private const int Window = 5;

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static ModelConfig Config(int vocabSize) =>
        ModelConfig.Llama(vocabSize, contextLength: 64, layers: 2, dim: 16, heads: 2, kvHeads: 1, ffnDim: 32)
            with { Family = ModelFamily.Mistral, SlidingWindow = Window, TiedEmbeddings = false };

    private static string ConfigJson(ModelConfig c) => string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": null, "eos_token_id": null, "head_dim": null,
          "hidden_act": "silu", "hidden_size": {{c.Dim}}, "initializer_range": 0.02, "intermediate_size": {{c.FfnDim}},
          "max_position_embeddings": {{c.ContextLength}}, "model_type": "mistral", "num_attention_heads": {{c.Heads}},
          "num_hidden_layers": {{c.Layers}}, "num_key_value_heads": {{c.KvHeads}}, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
          "sliding_window": {{c.SlidingWindow}}, "tie_word_embeddings": false, "torch_dtype": "float32", "transformers_version": "4.57.1",
          "use_cache": true, "vocab_size": {{c.VocabSize}}
        }
        """);

    /// <summary>The reference's weights, rounded to float32, as a Hugging Face directory.</summary>
    private string WriteDirectory(ReferenceDecoder reference)
    {
        string directory = Path.Combine(_temp.Path, "mistral");
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, HfConfig.FileName), ConfigJson(reference.Config));
        var tensors = ReferenceDecoder.Tensors(reference.Config)
            .Select(t => NamedTensor.Of(t.Name, t.Shape, [.. reference.Weights[t.Name].Select(w => (float)w)])).ToList();
        SafeTensors.Write(Path.Combine(directory, ShardedCheckpoint.SingleFileName), tensors);
        new ByteChatTokenizer().WriteHfFiles(directory);
        return directory;
    }

    [Fact]
    public void AMistralDirectoryLoadsWithTheReferencesLogitsTrainsAndGenerates()
    {
        var reference = ReferenceDecoder.Random(Config(new ByteChatTokenizer().VocabSize), seed: 3, scale: 0.5f);
        string directory = WriteDirectory(reference);

        using (var backend = new CpuBackend())
        using (var loaded = HfCheckpoint.Load(directory, backend))
        {
            Assert.Equal(reference.Config, loaded.Config);
            int[] ids = TestData.Ints(12, seed: 4, max: reference.Config.VocabSize);
            var batch = Batch.Unpacked(1, ids.Length, ids, new int[ids.Length]);
            using var tape = new Tape(backend, recordGradients: false);
            Check.Close(reference.Logits(batch), CpuBackend.F(loaded.Logits(tape, batch).Value), 1e-5, "logits of 12 tokens, window 5");
        }

        string run = Path.Combine(_temp.Path, "run"), data = CliRun.FourConversations(_temp);
        Assert.Equal((0, ""), CliRun.Run("sft", "--model", directory, "--data", data, "--eval-data", data, "--steps", "4", "--lr", "0.01", "--batch", "2",
            "--max-len", "64", "--backend", "cpu", "--out", run));
        var summary = FineTuneSummary.Read(run);
        Assert.Equal(4, summary.Steps);
        Assert.True(summary.TargetLossAfter < summary.TargetLossBefore, $"target loss {summary.TargetLossBefore} → {summary.TargetLossAfter}");

        string trained = Path.Combine(run, "model");
        Assert.Equal(reference.Config, HfConfig.Read(Path.Combine(trained, HfConfig.FileName)));
        Assert.Equal((0, ""), CliRun.Run("generate", "--model", trained, "--prompt", "hi", "--chat", "--max-new-tokens", "8", "--backend", "cpu"));
        Assert.Equal((0, ""), CliRun.Run("generate", "--model", directory, "--prompt", "a prompt longer than the window", "--max-new-tokens", "4", "--backend", "cpu"));
    }
}
