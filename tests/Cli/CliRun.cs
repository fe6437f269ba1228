using Engine.Backends;
using Engine.Cli;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Support;
using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>The `engine` command line in process, and the tiny model directories the CLI tests run it on.</summary>
public static class CliRun
{
    /// <summary>The exit code and what went to the error writer.</summary>
    public static (int ExitCode, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        int exitCode = EngineCli.Run(args, error);
        return (exitCode, error.ToString());
    }

    /// <summary>Exit code 1 and exactly one line `error: ...` that contains every expected part.</summary>
    public static void AssertError((int ExitCode, string Error) result, params string[] expected)
    {
        Assert.Equal(1, result.ExitCode);
        string line = Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries)).TrimEnd('\r');
        Assert.StartsWith("error: ", line);
        foreach (string part in expected) Assert.Contains(part, line);
    }

    /// <summary>data.jsonl in the directory: four copies of a one-turn conversation ("hi" → "hello!").</summary>
    public static string FourConversations(TempDirectory temp) => temp.File("data.jsonl",
        string.Concat(Enumerable.Repeat("""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}]}""" + "\n", 4)));

    /// <summary>A tiny Llama (context 64) saved as a Hugging Face directory with the byte-level chat tokenizer's files.</summary>
    public static string TinyModel(string directory, int vocabSize = 259)
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, ModelConfig.Llama(vocabSize, contextLength: 64, layers: 1, dim: 16, heads: 2, kvHeads: 1, ffnDim: 32), seed: 1);
        HfCheckpoint.Save(model, directory);
        new ByteChatTokenizer().WriteHfFiles(directory);
        return directory;
    }
}
