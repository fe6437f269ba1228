using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Tokenizers;

/// <summary>
/// UTF-8 bytes as ids 0..255 plus the ChatML specials &lt;|im_start|&gt; (256), &lt;|im_end|&gt; (257) and &lt;|endoftext|&gt; (258):
/// the tokenizer of the embedded default chat model, which needs no files.
/// </summary>
public sealed class ByteChatTokenizer : ITextTokenizer
{
    public const int ImStart = 256, ImEnd = 257, EndOfText = 258;

    private static readonly string[] SpecialTexts = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"];

    public int VocabSize => 259;

    public IReadOnlyDictionary<string, int> SpecialTokens { get; } =
        new Dictionary<string, int> { [SpecialTexts[0]] = ImStart, [SpecialTexts[1]] = ImEnd, [SpecialTexts[2]] = EndOfText };

    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length + 8);
        int done = 0;
        while (done < text.Length)
        {
            int next = -1, special = -1;
            for (int s = 0; s < SpecialTexts.Length; s++)
            {
                int at = text.IndexOf(SpecialTexts[s], done, StringComparison.Ordinal);
                if (at >= 0 && (next < 0 || at < next)) (next, special) = (at, s);
            }
            int end = next < 0 ? text.Length : next;
            foreach (byte b in Encoding.UTF8.GetBytes(text, done, end - done)) ids.Add(b);
            if (next < 0) break;
            ids.Add(ImStart + special);
            done = next + SpecialTexts[special].Length;
        }
        return [.. ids];
    }

    public string Decode(IEnumerable<int> ids)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if ((uint)id < 256) { bytes.Add((byte)id); continue; }
            text.Append(Encoding.UTF8.GetString([.. bytes]));
            bytes.Clear();
            if (id >= ImStart && id <= EndOfText) text.Append(SpecialTexts[id - ImStart]);
        }
        return text.Append(Encoding.UTF8.GetString([.. bytes])).ToString();
    }

    public int? TokenToId(string token) => SpecialTokens.TryGetValue(token, out int id) ? id : null;

    /// <summary>The ids of the eos (&lt;|im_end|&gt;) and pad (&lt;|endoftext|&gt;) tokens its tokenizer_config.json names; no bos.</summary>
    public Engine.IO.SpecialTokenIds SpecialIds { get; } = new(null, [ImEnd], EndOfText);

    /// <summary>
    /// Writes tokenizer.json (byte-level BPE: the 256 byte symbols as ids 0..255, no merges, the specials as added tokens) and
    /// tokenizer_config.json (a ChatML chat_template), so a model directory saved with this tokenizer loads like any other.
    /// </summary>
    public void WriteHfFiles(string directory)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteLevelAlphabet.Symbol((byte)b).ToString()] = b;
        var added = new JsonArray();
        for (int s = 0; s < SpecialTexts.Length; s++)
            added.Add(new JsonObject { ["id"] = ImStart + s, ["content"] = SpecialTexts[s], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true });
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0", ["added_tokens"] = added, ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new JsonArray() },
        };
        var config = new JsonObject
        {
            ["tokenizer_class"] = "PreTrainedTokenizerFast", ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|endoftext|>",
            ["chat_template"] = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
                                "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
        };
        Directory.CreateDirectory(directory);
        var indented = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), tokenizer.ToJsonString(indented));
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), config.ToJsonString(indented));
    }
}
