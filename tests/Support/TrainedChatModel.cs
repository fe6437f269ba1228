using Engine.Backends;
using Engine.Data;
using Engine.Eval;
using Engine.IO;
using Engine.Models;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Tests.Support;

/// <summary>A tiny chat model fine-tuned (about a second) until it answers four questions exactly, shared by a test class, also saved
/// as a Hugging Face directory with the byte-level chat tokenizer.</summary>
public sealed class TrainedChatModel : IDisposable
{
    public static readonly (string Question, string Answer)[] Pairs = [("hi", "hello!"), ("2+2?", "4"), ("sky?", "blue"), ("cat?", "meow")];

    private readonly TempDirectory _directory = new();

    public TrainedChatModel()
    {
        Template = ChatTemplate.ByName("chatml", new ByteChatTokenizer());
        var examples = Pairs.Select(p => SftExample.Chat(new ChatTurn(ChatRole.User, p.Question), new ChatTurn(ChatRole.Assistant, p.Answer))).ToList();
        var data = SftDataset.FromExamples(examples, Template, maxLen: 64);
        var config = ModelConfig.Llama(Template.Tokenizer.VocabSize, contextLength: 64, layers: 2, dim: 32, heads: 2, kvHeads: 1, ffnDim: 64);
        Model = new Transformer(Backend, config, seed: 1);
        using (var trainer = new Trainer(Model, new OptimizerConfig(WeightDecay: 0), new LearningRateSchedule(ScheduleKind.Cosine, 1e-2f, 10, 200)))
            for (int step = 0; step < 200; step++) trainer.Step(data.Epoch(step, rowsPerBatch: 4, seed: 1).ToList());
        HfCheckpoint.Save(Model, Directory);
        new ByteChatTokenizer().WriteHfFiles(Directory);
    }

    public CpuBackend Backend { get; } = new();

    public ChatTemplate Template { get; }

    public Transformer Model { get; }

    /// <summary>The model as a Hugging Face directory.</summary>
    public string Directory => _directory.Path;

    public EvalModel AsEvalModel(string label = "trained") => new(label, Model, Template, [Template.EndOfTurnId]);

    public static List<ExactItem> Items(Func<string, string>? reference = null) =>
        Pairs.Select(p => new ExactItem([new ChatTurn(ChatRole.User, p.Question)], reference?.Invoke(p.Answer) ?? p.Answer)).ToList();

    public void Dispose()
    {
        Model.Dispose();
        Backend.Dispose();
        _directory.Dispose();
    }
}
