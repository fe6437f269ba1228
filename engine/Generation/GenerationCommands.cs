using Engine.Data;

namespace Engine.Generation;

/// <summary>What `engine generate` and `engine chat` do, on a loaded model and plain text readers and writers (so tests can run them).</summary>
public static class GenerationCommands
{
    /// <summary>Each prompt and its completion: a raw-text continuation, or with a chat template the assistant's answer to the prompt as a user turn.</summary>
    public static void Generate(GenerationModel model, IReadOnlyList<string> prompts, ChatTemplate? chatTemplate, SamplingOptions options, TextWriter output)
    {
        if (prompts.Count == 0) throw new ArgumentException("no prompt: give at least one --prompt");
        var completions = chatTemplate is null
            ? model.Complete(prompts, options)
            : model.Reply(chatTemplate, prompts.Select(p => (IReadOnlyList<ChatTurn>)[new ChatTurn(ChatRole.User, p)]).ToList(), options);
        for (int i = 0; i < prompts.Count; i++)
        {
            if (i > 0) output.WriteLine();
            output.WriteLine($"prompt:     {prompts[i]}");
            output.WriteLine($"completion: {completions[i]}");
        }
    }

    /// <summary>
    /// An interactive conversation: reads user lines until end of input or "/exit" (blank lines are skipped), answers each with the
    /// whole conversation so far (after the system prompt, when given) as the prompt, and writes "assistant: " and the reply.
    /// Reply n (from 0) samples with Seed + n, so a seed reproduces the whole conversation.
    /// </summary>
    public static void Chat(GenerationModel model, ChatTemplate template, string? system, SamplingOptions options, TextReader input, TextWriter output)
    {
        var turns = new List<ChatTurn>();
        if (!string.IsNullOrEmpty(system)) turns.Add(new ChatTurn(ChatRole.System, system));
        for (int reply = 0; ; reply++)
        {
            output.Write("user: ");
            output.Flush();
            string? line = input.ReadLine();
            if (line is null || line.Trim() == "/exit") break;
            if (string.IsNullOrWhiteSpace(line)) continue;
            turns.Add(new ChatTurn(ChatRole.User, line));
            string answer = model.Reply(template, [turns], options with { Seed = options.Seed + reply })[0];
            turns.Add(new ChatTurn(ChatRole.Assistant, answer));
            output.WriteLine($"assistant: {answer}");
        }
        output.WriteLine();
    }
}
