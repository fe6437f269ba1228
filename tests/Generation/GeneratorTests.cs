using Engine.Autograd;
using Engine.Backends;
using Engine.Generation;
using Engine.Models;
using Engine.Tests.Kernels;
using Engine.Tests.Models;
using Engine.Tests.Support;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Generation;

public class GeneratorTests
{
    /// <summary>The decoder Generator replaced, kept as the reference: one prompt, the whole window re-run each token, argmax, stop token kept.</summary>
    private static List<int> OldGreedyDecoder(Transformer model, IReadOnlyList<int> prompt, int newTokens, int? stopId = null)
    {
        var tokens = prompt.ToList();
        using var tape = new Tape(model.Backend, recordGradients: false);
        var logits = new float[model.Config.VocabSize];
        for (int i = 0; i < newTokens; i++)
        {
            int[] window = tokens.TakeLast(model.Config.ContextLength).ToArray();
            var batch = Batch.Unpacked(1, window.Length, window, new int[window.Length]);
            var all = model.Logits(tape, batch);
            model.Backend.Download(all.Value.View((long)(window.Length - 1) * logits.Length, logits.Length), logits);
            int next = Array.IndexOf(logits, logits.Max());
            tokens.Add(next);
            tape.Reset();
            if (next == stopId) break;
        }
        return tokens.Skip(prompt.Count).ToList();
    }

    /// <summary>Weights scaled up so the logits are far from flat and greedy choices vary from token to token.</summary>
    internal static Transformer Model(CpuBackend backend, ModelFamily family, int contextLength)
    {
        var model = new Transformer(backend, TinyModels.Get(family) with { ContextLength = contextLength }, seed: 3);
        TinyModels.ScaleWeights(model, 8f);
        return model;
    }

    /// <summary>The logits of the last position of a window run whole through the model without a cache.</summary>
    private static float[] FullWindowLogits(Transformer model, int[] window)
    {
        using var tape = new Tape(model.Backend, recordGradients: false);
        var all = model.Logits(tape, Batch.Unpacked(1, window.Length, window, Enumerable.Repeat(-1, window.Length).ToArray()));
        var logits = new float[model.Config.VocabSize];
        model.Backend.Download(all.Value.View((long)(window.Length - 1) * logits.Length, logits.Length), logits);
        return logits;
    }

    private static IReadOnlyList<int>[] Prompts(int vocabSize) =>
        [.. new[] { 1, 4, 2, 6, 3 }.Select((length, i) => TestData.Ints(length, seed: 10 + i, max: vocabSize))];

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void GreedyEqualsTheOldGreedyDecoder(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, family, contextLength: 8);
        var generated = new List<int>();
        foreach (var prompt in Prompts(model.Config.VocabSize))
        {
            var expected = OldGreedyDecoder(model, prompt, 12);
            Assert.Equal(expected, Generator.Generate(model, prompt, new SamplingOptions(MaxNewTokens: 12)));
            generated.AddRange(expected);
        }
        Assert.True(generated.Distinct().Count() > 2, "the scaled model does not just repeat one token");
    }

    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    public void BatchedEqualsOneAtATime(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, family, contextLength: 16);
        var prompts = Prompts(model.Config.VocabSize);
        foreach (var options in new[] { new SamplingOptions(MaxNewTokens: 9), new SamplingOptions(Temperature: 1.3f, TopK: 6, TopP: 0.95f, Seed: 4, MaxNewTokens: 9) })
        {
            var batched = Generator.Generate(model, prompts, options);
            for (int r = 0; r < prompts.Length; r++)
                Assert.Equal(Generator.Generate(model, prompts[r], options with { Seed = options.Seed + r }), batched[r]);
        }
    }

    [Fact]
    public void AStopTokenEndsItsRowAndIsKept()
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, ModelFamily.Llama, contextLength: 16);
        var prompts = Prompts(model.Config.VocabSize);
        var options = new SamplingOptions(MaxNewTokens: 10);
        var free = Generator.Generate(model, prompts, options);
        int stop = free[1][2];
        var stopped = Generator.Generate(model, prompts, options, [stop]);
        for (int r = 0; r < prompts.Length; r++)
        {
            int first = free[r].IndexOf(stop);
            Assert.Equal(first < 0 ? free[r] : free[r][..(first + 1)], stopped[r]);
        }
        Assert.True(stopped[1].Count <= 3 && stopped[1][^1] == stop);
        Assert.Equal(Enumerable.Repeat(0, prompts.Length), Generator.Generate(model, prompts, options with { MaxNewTokens = 0 }).Select(c => c.Count));
    }

    [Fact]
    public void APromptLongerThanTheContextIsCutFromTheLeft()
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, ModelFamily.Llama, contextLength: 8);
        int[] prompt = TestData.Ints(20, seed: 5, max: model.Config.VocabSize);
        var options = new SamplingOptions(MaxNewTokens: 1);
        Assert.Equal(Generator.Generate(model, prompt[^8..], options), Generator.Generate(model, prompt, options));
        Assert.Equal(OldGreedyDecoder(model, prompt, 6), Generator.Generate(model, [prompt, prompt[..3]], options with { MaxNewTokens = 6 })[0]);
    }

    [Fact]
    public void AnEmptyPromptIsRejected()
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, ModelFamily.Llama, contextLength: 8);
        Assert.Throws<ArgumentException>(() => Generator.Generate(model, [[1, 2], []], new SamplingOptions()));
    }

    /// <summary>
    /// Every row's logits at every step, prefill, decode and (the context being 8) the re-prefill of a slid window, in batches where rows are at
    /// different stages, against the last position of the row's whole window run without a cache. Both are float32 with the same weights;
    /// attention sums its keys in another order and the matmuls block rows differently, so they agree to float32 rounding:
    /// tolerance 1e-5 norm-wise (measured ≤ 3.1e-7).
    /// </summary>
    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    [InlineData(ModelFamily.Mistral)]
    [InlineData(ModelFamily.Qwen3)]
    [InlineData(ModelFamily.Gemma3)]
    [InlineData(ModelFamily.Phi3)]
    public void LogitsEqualTheFullWindowLogitsAtEveryStep(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, family, contextLength: 8);
        var prompts = Prompts(model.Config.VocabSize);
        var seen = prompts.Select(_ => new List<float[]>()).ToArray();
        var options = new SamplingOptions(Temperature: 1.1f, Seed: 2, MaxNewTokens: 10);
        var completions = Generator.Generate(model, prompts, options, onLogits: (row, logits) => seen[row].Add(logits.ToArray()));

        for (int r = 0; r < prompts.Length; r++)
        {
            Assert.Equal(completions[r].Count, seen[r].Count);
            for (int step = 0; step < seen[r].Count; step++)
            {
                int[] window = prompts[r].Concat(completions[r].Take(step)).TakeLast(model.Config.ContextLength).ToArray();
                Check.Close(FullWindowLogits(model, window), seen[r][step], 1e-5, $"row {r}, step {step}");
            }
        }
    }

    /// <summary>A row that outgrows the context re-prefills its slid window while a shorter row keeps decoding one token a step.</summary>
    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    [InlineData(ModelFamily.Mistral)]
    [InlineData(ModelFamily.Qwen3)]
    [InlineData(ModelFamily.Gemma3)]
    [InlineData(ModelFamily.Phi3)]
    public void ARowThatOutgrowsTheContextGivesTheOldDecodersTokens(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, family, contextLength: 8);
        int[] longPrompt = TestData.Ints(7, seed: 21, max: model.Config.VocabSize), shortPrompt = TestData.Ints(1, seed: 22, max: model.Config.VocabSize);
        var generated = Generator.Generate(model, [longPrompt, shortPrompt], new SamplingOptions(MaxNewTokens: 9));
        Assert.Equal(OldGreedyDecoder(model, longPrompt, 9), generated[0]);
        Assert.Equal(OldGreedyDecoder(model, shortPrompt, 9), generated[1]);
    }

    /// <summary>Transformer.Decode itself: a ragged prefill of two rows, then one token per row per call, each against the whole window.</summary>
    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    [InlineData(ModelFamily.Mistral)]
    [InlineData(ModelFamily.Qwen3)]
    [InlineData(ModelFamily.Gemma3)]
    [InlineData(ModelFamily.Phi3)]
    public void DecodingOneTokenAtATimeEqualsRunningTheWholeWindow(ModelFamily family)
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, family, contextLength: 8);
        int vocab = model.Config.VocabSize;
        int[][] rows = [TestData.Ints(8, seed: 31, max: vocab), TestData.Ints(6, seed: 32, max: vocab)];
        using var cache = new KvCache(backend, model.Config, rows: 2, capacity: 8);
        using var tape = new Tape(backend, recordGradients: false);
        var logits = new float[2 * vocab];

        // Prefill: row 0 its first 4 tokens, row 1 its first 2 after two padding tokens (slot −1). Then row 0 one token per call; row 1 too,
        // for two calls, then padding only.
        int[] ids = [.. rows[0][..4], 0, 0, .. rows[1][..2]], slots = [0, 1, 2, 3, -1, -1, 0, 1];
        backend.Download(model.Decode(tape, cache, ids, slots).Value, logits);
        Check.Close(FullWindowLogits(model, rows[0][..4]), logits.AsSpan(0, vocab), 1e-5, "row 0 after prefill");
        Check.Close(FullWindowLogits(model, rows[1][..2]), logits.AsSpan(vocab, vocab), 1e-5, "row 1 after prefill");
        for (int step = 0; step < 4; step++)
        {
            tape.Reset();
            bool rowOneDone = step >= 2;
            ids = [rows[0][4 + step], rowOneDone ? 0 : rows[1][2 + step]];
            slots = [4 + step, rowOneDone ? -1 : 2 + step];
            backend.Download(model.Decode(tape, cache, ids, slots).Value, logits);
            Check.Close(FullWindowLogits(model, rows[0][..(5 + step)]), logits.AsSpan(0, vocab), 1e-5, $"row 0, step {step}");
            if (!rowOneDone) Check.Close(FullWindowLogits(model, rows[1][..(3 + step)]), logits.AsSpan(vocab, vocab), 1e-5, $"row 1, step {step}");
        }
    }

    [Fact]
    public void DecodeRefusesATapeThatRecordsGradients()
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, ModelFamily.Llama, contextLength: 8);
        using var cache = new KvCache(backend, model.Config, rows: 1, capacity: 4);
        using var tape = new Tape(backend, recordGradients: true);
        Assert.Throws<InvalidOperationException>(() => model.Decode(tape, cache, [1, 2], [0, 1]));
        Assert.Throws<ArgumentException>(() => new KvCache(backend, model.Config, rows: 1, capacity: 9));
    }
}

/// <summary>Cached generation on the ILGPU backend (CPU accelerator): the same tokens as on the CPU backend, with the same weights.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class IlgpuGeneratorTests(IlgpuCpuBackendFixture fixture) : IClassFixture<IlgpuCpuBackendFixture>
{
    /// <summary>Three prompts (4, 1 and 6 tokens, context 8): a ragged prefill, decoding, and the last row's window sliding at its third step.</summary>
    [Theory]
    [InlineData(ModelFamily.Gpt2)]
    [InlineData(ModelFamily.Llama)]
    [InlineData(ModelFamily.Mistral)]
    [InlineData(ModelFamily.Qwen3)]
    [InlineData(ModelFamily.Gemma3)]
    [InlineData(ModelFamily.Phi3)]
    public void GreedyTokensEqualTheCpuBackends(ModelFamily family)
    {
        using var cpu = new CpuBackend();
        using var cpuModel = GeneratorTests.Model(cpu, family, contextLength: 8);
        using var ilgpuModel = Transformer.Empty(fixture.Backend, cpuModel.Config);
        for (int i = 0; i < cpuModel.Parameters.Count; i++) fixture.Backend.Upload(ilgpuModel.Parameters[i].Value, CpuBackend.F(cpuModel.Parameters[i].Value));

        IReadOnlyList<int>[] prompts = [.. new[] { 4, 1, 6 }.Select((length, i) => TestData.Ints(length, seed: 40 + i, max: cpuModel.Config.VocabSize))];
        var options = new SamplingOptions(MaxNewTokens: 4);
        Assert.Equal(Generator.Generate(cpuModel, prompts, options), Generator.Generate(ilgpuModel, prompts, options));
    }
}
