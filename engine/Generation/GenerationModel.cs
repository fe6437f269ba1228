using Engine.Backends;
using Engine.Data;
using Engine.IO;
using Engine.Models;
using Engine.Tokenizers;

namespace Engine.Generation;

/// <summary>One generated reply: its text (trimmed, without the stop token), the tokens of its prompt and its own, and whether it ended
/// at a stop token (else at the token limit).</summary>
public sealed record GeneratedReply(string Text, int PromptTokens, int CompletionTokens, bool Stopped);

/// <summary>A Hugging Face model directory loaded for generation: the weights, the tokenizer, and the end-of-sequence token.</summary>
public sealed class GenerationModel : IDisposable
{
    private GenerationModel(Transformer model, PretrainedTokenizer tokenizer)
    {
        Model = model;
        Tokenizer = tokenizer;
        EosId = tokenizer.Config.EosToken is { } eos ? tokenizer.Tokenizer.TokenToId(eos) : null;
    }

    public Transformer Model { get; }

    public PretrainedTokenizer Tokenizer { get; }

    /// <summary>The id of tokenizer_config.json's eos_token, when it names one the tokenizer knows: it ends every completion.</summary>
    public int? EosId { get; }

    /// <summary>config.json, the weights and the tokenizer of a directory, and a PEFT LoRA adapter on top when one is given;
    /// the tokenizer's ids must fit the model's embedding.</summary>
    public static GenerationModel Load(string directory, IBackend backend, string? adapter = null)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"model directory {directory} does not exist");
        var tokenizer = TokenizerLoader.FromDirectory(directory);
        var model = HfCheckpoint.Load(directory, backend);
        try
        {
            if (tokenizer.Tokenizer.VocabSize > model.Config.VocabSize)
                throw new ArgumentException($"the tokenizer in {directory} has {tokenizer.Tokenizer.VocabSize} tokens but the model's embedding has {model.Config.VocabSize} rows");
            if (adapter is not null) PeftAdapter.Load(model, adapter);
            return new GenerationModel(model, tokenizer);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The named built-in chat template (chatml, llama3), else the model's own.</summary>
    public ChatTemplate ChatTemplate(string? name) => Data.ChatTemplate.Resolve(name, Tokenizer.Config, Tokenizer.Tokenizer);

    /// <summary>Raw-text continuations of the prompts, generated as one batch, ending at eos.</summary>
    public string[] Complete(IReadOnlyList<string> prompts, SamplingOptions options)
    {
        var ids = prompts.Select(p => (IReadOnlyList<int>)Tokenizer.Tokenizer.Encode(p)).ToList();
        return Decode(Generator.Generate(Model, ids, options, StopIds(null)), StopIds(null));
    }

    /// <summary>The assistant's next turn in each conversation, generated as one batch, ending at end-of-turn or eos.</summary>
    public string[] Reply(ChatTemplate template, IReadOnlyList<IReadOnlyList<ChatTurn>> conversations, SamplingOptions options)
        => Replies(template, conversations, options).Select(r => r.Text).ToArray();

    /// <summary>
    /// samples replies to each conversation (reply p·samples + j is sample j of conversation p), generated as one batch, reply r drawing
    /// from <c>Random(seeds[r])</c> (default Seed + r); with sharePrefill the samples of a conversation share its prefill
    /// (<see cref="Generator.SampleShared"/>, the same replies).
    /// </summary>
    public GeneratedReply[] Replies(ChatTemplate template, IReadOnlyList<IReadOnlyList<ChatTurn>> conversations, SamplingOptions options,
        IReadOnlyList<int>? seeds = null, int samples = 1, bool sharePrefill = true)
    {
        var ids = conversations.Select(c => (IReadOnlyList<int>)template.RenderPrompt(c)).ToList();
        var stops = StopIds(template);
        var completions = samples > 1 && sharePrefill
            ? Generator.SampleShared(Model, ids, samples, options, stops, seeds)
            : Generator.Generate(Model, ids.SelectMany(p => Enumerable.Repeat(p, Math.Max(samples, 1))).ToList(), options, stops, seeds: seeds);
        var texts = Decode(completions, stops);
        return completions.Select((c, r) => new GeneratedReply(texts[r].Trim(), ids[r / Math.Max(samples, 1)].Count, c.Count, c.Count > 0 && stops.Contains(c[^1]))).ToArray();
    }

    public void Dispose() => Model.Dispose();

    private int[] StopIds(ChatTemplate? template)
        => new[] { template?.EndOfTurnId, EosId }.OfType<int>().Distinct().ToArray();

    /// <summary>The text of each completion without its final stop token.</summary>
    private string[] Decode(List<int>[] completions, int[] stops)
        => completions.Select(ids => Tokenizer.Tokenizer.Decode(ids.Count > 0 && stops.Contains(ids[^1]) ? ids[..^1] : ids)).ToArray();
}
