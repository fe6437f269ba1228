namespace Engine.Models;

/// <summary>The three GPT-2-family shapes of the baselines in DESIGN.md, and the main job's tiny Llama-family model.</summary>
public static class Presets
{
    public static ModelConfig Bench(string name) => name switch
    {
        "i" => ModelConfig.Gpt2(vocabSize: 512, contextLength: 128, layers: 4, dim: 128, heads: 4),
        "ii" => ModelConfig.Gpt2(vocabSize: 8192, contextLength: 256, layers: 6, dim: 384, heads: 6),
        "iii" => ModelConfig.Gpt2(vocabSize: 50257, contextLength: 64, layers: 2, dim: 768, heads: 12),
        _ => throw new ArgumentException($"unknown preset '{name}': expected i, ii or iii"),
    };

    /// <summary>Batch rows of each bench preset: (i) B8, (ii) B4, (iii) B4, each at its full context.</summary>
    public static int BenchBatch(string name) => name == "i" ? 8 : 4;

    /// <summary>The main jobs' model: bytes in, 4 Llama-style blocks of width 128 with grouped-query attention.</summary>
    public static ModelConfig TinyLlama(int vocabSize, int contextLength = 128) =>
        ModelConfig.Llama(vocabSize, contextLength, layers: 4, dim: 128, heads: 4, kvHeads: 2, ffnDim: 352);
}
