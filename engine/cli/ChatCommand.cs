using System.CommandLine;
using Engine.Backends;
using Engine.Generation;

namespace Engine.Cli;

/// <summary>`engine chat`: a multi-turn conversation with a model directory on the console.</summary>
public static class ChatCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var adapter = ModelOptions.Adapter();
        var chatTemplate = ModelOptions.ChatTemplate();
        var system = new Option<string?>("--system") { Description = "a system prompt that opens the conversation" };
        var sampling = new SamplingCliOptions();
        var backend = CliOptions.Backend();
        var command = new Command("chat", "Chat with a model directory: one user line at a time, until end of input or /exit") { model, adapter, chatTemplate, system, backend };
        sampling.AddTo(command);
        command.SetAction(r =>
        {
            var options = sampling.Read(r);
            options.Validate();
            using var device = BackendChoice.Create(r.GetValue(backend)!);
            using var loaded = GenerationModel.Load(r.GetValue(model)!.FullName, device, r.GetValue(adapter)?.FullName);
            GenerationCommands.Chat(loaded, loaded.ChatTemplate(r.GetValue(chatTemplate)), r.GetValue(system), options, Console.In, Console.Out);
            return 0;
        });
        return command;
    }
}
