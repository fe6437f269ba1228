using System.Text.Json;
using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Tokenizers;

/// <summary>
/// The small tokenizer.json files in Reference/ (one per feature: Llama-3 with ignore_merges, Qwen3's NFC, DeepSeek-V3's
/// pre-tokenizer, Llama-2 and Gemma 3 byte fallback, every Split behavior, Metaspace, Digits, normalizers, decoders) must
/// give, on every hard text, exactly the ids and the decode that Hugging Face's tokenizers library gave
/// (Reference/expected.json, written by Reference/make_reference.js; see Reference/README.md).
/// </summary>
public class HfReferenceTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Tokenizers", "Reference");

    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var file in Expected().RootElement.GetProperty("files").EnumerateObject()) data.Add(file.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void IdsAndDecodeMatchTheReference(string file)
    {
        var tokenizer = HfTokenizerJson.Load(Path.Combine(Folder, file));
        var failures = new List<string>();
        foreach (var item in Expected().RootElement.GetProperty("files").GetProperty(file).EnumerateArray())
        {
            string text = item.GetProperty("text").GetString()!;
            int[] expected = item.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            string decoded = item.GetProperty("decoded").GetString()!;
            int[] actual = tokenizer.Encode(text);
            if (!actual.SequenceEqual(expected))
                failures.Add($"{JsonSerializer.Serialize(text)}: ids [{string.Join(",", actual)}], reference [{string.Join(",", expected)}]");
            string actualDecoded = tokenizer.Decode(expected);
            if (actualDecoded != decoded)
                failures.Add($"{JsonSerializer.Serialize(text)}: decode {JsonSerializer.Serialize(actualDecoded)}, reference {JsonSerializer.Serialize(decoded)}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static JsonDocument Expected() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "expected.json")));
}
