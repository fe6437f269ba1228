using System.Text.Json;
using Engine.Training;

namespace Engine.Eval;

/// <summary>
/// Both sides of one fine-tuning run, measured on the same model before and after: the target skill (loss and greedy exact match on
/// held-out examples of the task) and forgetting (loss on held-out text of another domain, e.g. the base model's pretraining text), with
/// what the run cost (trainable parameters, memory, time per step). For the built-in model it also holds every metric of the built-in eval
/// suite (<see cref="BuiltInSuite"/>: task → metric → value) before and after. engine sft writes it as summary.json; engine tradeoff compares runs.
/// </summary>
public sealed record FineTuneSummary(
    string Method, float LearningRate, int Steps, double MeanStepMilliseconds, MemoryReport Memory,
    double TargetLossBefore, double TargetLossAfter, double ExactMatchBefore, double ExactMatchAfter, int ExactMatchExamples,
    double OtherLossBefore, double OtherLossAfter,
    Dictionary<string, Dictionary<string, double>>? SuiteBefore = null, Dictionary<string, Dictionary<string, double>>? SuiteAfter = null)
{
    public const string FileName = "summary.json";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>How much the target loss fell (positive: learned).</summary>
    public double TargetGain => TargetLossBefore - TargetLossAfter;

    /// <summary>How much the other domain's loss rose (positive: forgot).</summary>
    public double Forgetting => OtherLossAfter - OtherLossBefore;

    public string Write(string directory)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, FileName);
        File.WriteAllText(path, JsonSerializer.Serialize(this, Json));
        return path;
    }

    /// <summary>A summary.json, or the one in a run directory.</summary>
    public static FineTuneSummary Read(string path)
    {
        if (!path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) path = Path.Combine(path, FileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} does not exist: run engine sft with --out there first", path);
        try
        {
            return JsonSerializer.Deserialize<FineTuneSummary>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a fine-tuning summary: {e.Message}", e);
        }
    }
}
