using Engine.Data;
using Engine.Models;
using Engine.Training;

namespace Engine.Jobs;

/// <summary>
/// What an SFT run reports as it goes, in this order: a command prints it, a library caller may leave every method out (each does
/// nothing unless implemented). The run's end is its <see cref="SftResult"/>.
/// </summary>
public interface ISftObserver
{
    /// <summary>The training set's statistics, the held-out examples and the chat template's name.</summary>
    void DataLoaded(DatasetStats train, int heldOut, string template) { }

    /// <summary>The model, loaded (from modelDirectory; null: built-in) or freshly built.</summary>
    void ModelReady(string? modelDirectory, Transformer model) { }

    /// <summary>The built-in base model was pretrained on the built-in corpus.</summary>
    void BasePretrained(int steps, TimeSpan elapsed, double loss) { }

    /// <summary>LoRA adapters were attached (new, or from the checkpoint resumed) and the base frozen.</summary>
    void LoraAttached(Transformer model) { }

    /// <summary>The loop is about to run from the start scores (and, resuming, from that checkpoint); returns the token that stops it.</summary>
    CancellationToken TrainingStarts(TrainingLoop loop, Baseline start, ResumePoint? resumed) => default;

    /// <summary>The loop has ended (done, stopped, or failed).</summary>
    void TrainingEnded() { }
}

/// <summary>A held-out question answered greedily before and after fine-tuning, and the answer wanted.</summary>
public sealed record AnswerSample(string Question, string Before, string After, string Wanted);

/// <summary>
/// What an SFT run ends with: its summary (written as summary.json), the sample answers, whether other-domain loss was measured, and
/// where the result went: a model directory, or (IsAdapter) a PEFT adapter on BaseModel; the loss curve's path.
/// </summary>
public sealed record SftResult(Eval.FineTuneSummary Summary, IReadOnlyList<AnswerSample> Samples, bool OtherDomainMeasured, string Saved, bool IsAdapter,
    string? BaseModel, string LossCurve);
