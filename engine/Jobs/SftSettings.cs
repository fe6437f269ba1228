using Engine.Models;
using Engine.Training;

namespace Engine.Jobs;

/// <summary>
/// Everything an SFT run is told, each by name (the defaults are `engine sft`'s). Paths are as given: Model, Data, EvalData, ForgetData
/// and Resume null mean the built-in model, TinyChat's sets, no other-domain data (built-in model: its corpus) and a fresh run.
/// </summary>
public sealed record SftSettings
{
    /// <summary>Hugging Face model directory; null: the built-in tiny byte-level model, pretrained on the spot.</summary>
    public string? Model { get; init; }

    /// <summary>chatml or llama3; null: the model's own when it is one of those (the built-in model: chatml).</summary>
    public string? ChatTemplate { get; init; }

    public string? Data { get; init; }
    public string? EvalData { get; init; }

    /// <summary>Fraction of Data held out (seeded) when no EvalData is given.</summary>
    public double ValSplit { get; init; } = 0.05;

    public int Steps { get; init; } = 500;

    /// <summary>Packed rows per micro-batch.</summary>
    public int Rows { get; init; } = 8;

    /// <summary>Micro-batches per optimizer step.</summary>
    public int Accumulate { get; init; } = 1;

    /// <summary>Tokens per packed row; longer examples are truncated.</summary>
    public int MaxLen { get; init; } = 256;

    public float LearningRate { get; init; } = 2e-3f;
    public int WarmupSteps { get; init; } = 20;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;
    public int EvalEvery { get; init; } = 100;

    /// <summary>Steps of pretraining on the built-in corpus that make the built-in base model.</summary>
    public int PretrainSteps { get; init; } = 150;

    /// <summary>Loss on every token, not only the assistant's.</summary>
    public bool TrainOnAll { get; init; }

    /// <summary>Seed of the weights, the data order and the split.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>A <see cref="Backends.BackendChoice"/> name.</summary>
    public string Backend { get; init; } = "auto";

    /// <summary>What the matmuls multiply: "bf16", "fp32", or null for bf16 on CUDA and fp32 elsewhere (<see cref="Backends.BackendChoice"/>).</summary>
    public string? Precision { get; init; }

    /// <summary>Checkpoint every N steps (0: only when stopped early), keeping the newest SaveLimit.</summary>
    public int SaveEvery { get; init; } = 100;

    public int SaveLimit { get; init; } = 2;

    /// <summary>A checkpoint-N directory, or a run directory whose newest checkpoint is continued.</summary>
    public string? Resume { get; init; }

    /// <summary>The run directory: metrics, summary.json, checkpoints, the model or adapter.</summary>
    public string Output { get; init; } = "runs/sft";

    /// <summary>Held-out text of another domain (JSONL or .parquet) whose loss measures forgetting.</summary>
    public string? ForgetData { get; init; }

    /// <summary>LoRA adapters instead of full fine-tuning; null: every weight trains.</summary>
    public LoraConfig? Lora { get; init; }
}
