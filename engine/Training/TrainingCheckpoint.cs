using System.Text.Json;
using Engine.Backends;
using Engine.IO;
using Engine.Models;

namespace Engine.Training;

/// <summary>
/// Where a run was: optimizer steps taken, micro-batches consumed, the seed that orders the data, whether it fine-tunes the built-in
/// model, and the scores of the model it started from (so a resumed run reports its gain against the same start).
/// </summary>
public sealed record TrainingState(int Step, long MicroBatchesConsumed, int Seed, bool BuiltInModel = false, Baseline? Before = null);

/// <summary>Scores of a model before fine-tuning: target loss, exact match, and loss on the other domain (NaN when not measured).</summary>
public sealed record Baseline(double TargetLoss, double ExactMatch, double OtherLoss, Dictionary<string, Dictionary<string, double>>? Suite = null);

/// <summary>
/// A resumable checkpoint, a directory `checkpoint-{step}`: the model as a Hugging Face directory (config.json, model.safetensors) or,
/// for a LoRA run, only its adapters as a PEFT directory (adapter_config.json, adapter_model.safetensors; the frozen base is not copied),
/// the AdamW moments (optimizer.safetensors: `{name}.exp_avg`, `{name}.exp_avg_sq`) and trainer_state.json. It is written whole
/// into a temporary directory and renamed into place, so a crash leaves the previous checkpoint intact, never a partial one.
/// </summary>
public static class TrainingCheckpoint
{
    public const string Prefix = "checkpoint-";
    private const string OptimizerFile = "optimizer.safetensors", StateFile = "trainer_state.json";

    /// <summary>
    /// Writes {runDirectory}/checkpoint-{step} and returns its path, keeping the newest <paramref name="keep"/> checkpoints;
    /// extraFiles (e.g. tokenizer files) are written into it first; a full model's directory records metadata (special-token ids,
    /// generation_config.json).
    /// </summary>
    public static string Save(string runDirectory, Transformer model, Trainer trainer, TrainingState state, int keep = int.MaxValue, Action<string>? extraFiles = null,
        string? baseModel = null, ModelMetadata? metadata = null)
    {
        string final = Path.Combine(runDirectory, $"{Prefix}{state.Step}");
        string temp = Path.Combine(runDirectory, $".{Prefix}{state.Step}.{Guid.NewGuid():N}.tmp");
        try
        {
            if (model.Adapters.Count > 0) PeftAdapter.Save(model, temp, baseModel);
            else HfCheckpoint.Save(model, temp, metadata: metadata);
            extraFiles?.Invoke(temp);
            var moments = new List<NamedTensor>();
            foreach (var (parameter, m, v) in trainer.OptimizerState)
            {
                moments.Add(NamedTensor.Of(parameter.Name + ".exp_avg", parameter.Value.Shape, Download(model.Backend, m)));
                moments.Add(NamedTensor.Of(parameter.Name + ".exp_avg_sq", parameter.Value.Shape, Download(model.Backend, v)));
            }
            SafeTensors.Write(Path.Combine(temp, OptimizerFile), moments);
            File.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(state, StateJson));
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
            Directory.Move(temp, final);
            foreach (var (old, _) in Checkpoints(runDirectory).Skip(Math.Max(1, keep))) Directory.Delete(old, recursive: true);
            return final;
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>The checkpoint directory itself, or the newest checkpoint-N inside a run directory.</summary>
    public static string Find(string path)
    {
        if (File.Exists(Path.Combine(path, StateFile))) return path;
        var newest = Directory.Exists(path) ? Checkpoints(path).Select(c => c.Dir).FirstOrDefault() : null;
        return newest ?? throw new IOException($"{path} is neither a checkpoint (no {StateFile}) nor a run directory holding {Prefix}N checkpoints");
    }

    /// <summary>The complete checkpoint-N directories of a run, newest first.</summary>
    private static IEnumerable<(string Dir, int Step)> Checkpoints(string runDirectory) =>
        Directory.GetDirectories(runDirectory, Prefix + "*")
            .Select(d => (Dir: d, Step: int.TryParse(Path.GetFileName(d)[Prefix.Length..], out int s) ? s : -1))
            .Where(c => c.Step >= 0 && File.Exists(Path.Combine(c.Dir, StateFile)))
            .OrderByDescending(c => c.Step);

    /// <summary>Loads the model of a full fine-tuning checkpoint (see <see cref="Find"/>); a LoRA checkpoint is an adapter for
    /// <see cref="PeftAdapter.Load"/> on its base model.</summary>
    public static Transformer LoadModel(string checkpoint, IBackend backend) => HfCheckpoint.Load(checkpoint, backend);

    private static readonly JsonSerializerOptions StateJson = new()
    {
        WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The trainer_state.json of a checkpoint.</summary>
    public static TrainingState ReadState(string checkpoint)
    {
        string path = Path.Combine(checkpoint, StateFile);
        try
        {
            return JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(path), StateJson) ?? throw new CheckpointFormatException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"{path}: not a trainer state: {e.Message}", e);
        }
    }

    /// <summary>Loads a checkpoint's AdamW moments into the trainer (resuming: <see cref="ResumePoint"/>).</summary>
    internal static void LoadMoments(string checkpoint, Trainer trainer)
    {
        using var moments = SafeTensors.Open(Path.Combine(checkpoint, OptimizerFile));
        foreach (var (parameter, m, v) in trainer.OptimizerState)
        {
            trainer.Model.Backend.Upload(m, Read(moments, parameter.Name + ".exp_avg", m.Length));
            trainer.Model.Backend.Upload(v, Read(moments, parameter.Name + ".exp_avg_sq", v.Length));
        }
    }

    private static float[] Read(SafeTensorsFile file, string name, long length)
    {
        if (!file.Tensors.ContainsKey(name)) throw new CheckpointFormatException($"{file.Path}: no tensor {name}");
        var values = file.ReadFloats(name);
        if (values.Length != length) throw new CheckpointFormatException($"{file.Path}: {name} has {values.Length} values, the parameter {length}");
        return values;
    }

    private static float[] Download(IBackend backend, Tensors.Tensor t)
    {
        var values = new float[t.Length];
        backend.Download(t, values);
        return values;
    }
}
