using System.CommandLine;
using Engine.Backends;
using Engine.Generation;

namespace Engine.Cli;

/// <summary>`engine generate`: completions of one or more prompts by a Hugging Face model directory, as raw text or as chat answers.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var adapter = ModelOptions.Adapter();
        var prompts = new Option<string[]>("--prompt") { Description = "a prompt (repeat for several, generated as one batch)", Required = true, AllowMultipleArgumentsPerToken = false };
        var chat = new Option<bool>("--chat") { Description = "render each prompt as a user turn with the chat template and answer it (stops at end of turn)" };
        var chatTemplate = ModelOptions.ChatTemplate();
        var sampling = new SamplingCliOptions();
        var backend = CliOptions.Backend();
        var command = new Command("generate", "Continue prompts (or answer them with --chat) with a model directory") { model, adapter, prompts, chat, chatTemplate, backend };
        sampling.AddTo(command);
        command.SetAction(r =>
        {
            var options = sampling.Read(r);
            options.Validate();
            using var device = BackendChoice.Create(r.GetValue(backend)!);
            using var loaded = GenerationModel.Load(r.GetValue(model)!.FullName, device, r.GetValue(adapter)?.FullName);
            var template = r.GetValue(chat) ? loaded.ChatTemplate(r.GetValue(chatTemplate)) : null;
            GenerationCommands.Generate(loaded, r.GetValue(prompts)!, template, options, Console.Out);
            return 0;
        });
        return command;
    }
}

/// <summary>The model options of generate and chat.</summary>
internal static class ModelOptions
{
    public static Option<DirectoryInfo> Model() =>
        new("--model") { Description = "Hugging Face model directory (config.json, model.safetensors, tokenizer.json or tokenizer.model)", Required = true };

    public static Option<DirectoryInfo?> Adapter() =>
        new("--adapter") { Description = "a PEFT LoRA adapter directory (adapter_config.json, adapter_model.safetensors) applied to --model" };

    public static Option<string?> ChatTemplate() => new("--chat-template") { Description = "a built-in template, chatml or llama3, instead of the model's own chat_template" };
}

/// <summary>--max-new-tokens, --temperature, --top-k, --top-p and --seed, read into <see cref="SamplingOptions"/>.</summary>
internal sealed class SamplingCliOptions(float temperature = 0f)
{
    private readonly Option<int> _maxNewTokens = new("--max-new-tokens") { Description = "most tokens generated per reply", DefaultValueFactory = _ => 128 };
    private readonly Option<float> _temperature = new("--temperature") { Description = "0: greedy; otherwise logits are divided by it before sampling", DefaultValueFactory = _ => temperature };
    private readonly Option<int> _topK = new("--top-k") { Description = "sample among the k most likely tokens (0: all)", DefaultValueFactory = _ => 0 };
    private readonly Option<float> _topP = new("--top-p") { Description = "sample among the most likely tokens whose probability reaches p (1: all)", DefaultValueFactory = _ => 1f };
    private readonly Option<int> _seed = new("--seed") { Description = "seed of the sampling", DefaultValueFactory = _ => 1 };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _maxNewTokens, _temperature, _topK, _topP, _seed }) command.Options.Add(option);
    }

    public SamplingOptions Read(ParseResult r) => new(r.GetValue(_temperature), r.GetValue(_topK), r.GetValue(_topP), r.GetValue(_seed), r.GetValue(_maxNewTokens));
}
