using Engine.Backends;
using Engine.Data;
using Engine.Eval;
using Engine.Models;
using Engine.Tokenizers;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Eval;

public class SftEndToEndTests
{
    private static SftExample Chat(string question, string answer) =>
        SftExample.Chat(new ChatTurn(ChatRole.User, question), new ChatTurn(ChatRole.Assistant, answer));

    /// <summary>A tiny model fine-tuned with assistant-only loss on four packed conversations answers each of their prompts.</summary>
    [Fact]
    public void FineTunedTinyModelAnswersItsTrainingPrompts()
    {
        var template = ChatTemplate.ByName("chatml", new ByteChatTokenizer());
        SftExample[] examples = [Chat("hi", "hello!"), Chat("2+2?", "4"), Chat("sky?", "blue"), Chat("cat?", "meow")];
        var data = SftDataset.FromExamples(examples, template, maxLen: 64);
        Assert.True(data.RowCount(PackingMode.Packed) < examples.Length, "the four conversations share packed rows");

        using var backend = new CpuBackend();
        var config = ModelConfig.Llama(template.Tokenizer.VocabSize, contextLength: 64, layers: 2, dim: 32, heads: 2, kvHeads: 1, ffnDim: 64);
        using var model = new Transformer(backend, config, seed: 1);
        using var trainer = new Trainer(model, new OptimizerConfig(WeightDecay: 0), new LearningRateSchedule(ScheduleKind.Cosine, 1e-2f, 10, 200));
        for (int step = 0; step < 200; step++) trainer.Step(data.Epoch(step, rowsPerBatch: 4, seed: 1).ToList());

        foreach (var example in examples)
        {
            var (prompt, reference) = Evaluation.SplitLastAnswer(example);
            Assert.Equal(reference, Evaluation.Answer(model, template, prompt, maxNewTokens: 12));
        }
        Assert.Equal(1.0, Evaluation.ExactMatch(model, template, examples, 12));
    }
}
