using Engine.IO;
using Engine.Training;

namespace Engine.Jobs;

/// <summary>
/// Where an SFT run starts: fresh from its model directory (or the built-in model), or from a checkpoint to resume: a full model
/// directory, or a LoRA adapter (which holds the adapter only: its base is the model directory the adapter records, or the given
/// model, which must agree). A resume must keep the seed (<see cref="ResumePoint.Find"/>) and the LoRA settings. Checked before
/// anything is loaded or written.
/// </summary>
internal sealed record RunOrigin(ResumePoint? Resume, string? ModelDirectory, bool BuiltIn)
{
    /// <summary>The checkpoint holds LoRA adapters to load onto ModelDirectory.</summary>
    public bool ResumesAdapter => Resume?.HoldsAdapter ?? false;

    public static RunOrigin Of(SftSettings s)
    {
        var resume = s.Resume is null ? null : ResumePoint.Find(Path.GetFullPath(s.Resume), s.Seed);
        if (resume is null) return new RunOrigin(null, s.Model, BuiltIn: s.Model is null);
        string checkpoint = resume.Checkpoint;
        if (!resume.HoldsAdapter && s.Lora is not null)
            throw new ArgumentException($"{checkpoint} is a full fine-tuning checkpoint; resume it without --lora");
        if (resume.HoldsAdapter && s.Lora is { } asked && PeftAdapter.ReadConfig(checkpoint) is var trained
            && (asked.Rank, asked.Alpha, asked.Dropout, asked.RsLora) != (trained.Rank, trained.Alpha, trained.Dropout, trained.RsLora))
            throw new ArgumentException($"{checkpoint} holds a LoRA adapter with r={trained.Rank} alpha={trained.Alpha} dropout={trained.Dropout} " +
                                        $"rslora={trained.RsLora}; resume it without other --lora options");
        string modelDir = resume.HoldsAdapter ? AdapterBase(checkpoint, s.Model) : checkpoint;
        return new RunOrigin(resume, modelDir, resume.State.BuiltInModel);
    }

    /// <summary>The base model directory of a LoRA checkpoint: the one its adapter_config.json records, or the given model, which must agree.</summary>
    private static string AdapterBase(string checkpoint, string? model)
    {
        string? recorded = PeftAdapter.BaseModelDirectory(checkpoint);
        if (model is null)
            return recorded ?? throw new ArgumentException($"{checkpoint} holds a LoRA adapter whose base model directory is not recorded or is gone; give it with --model");
        if (recorded is not null && Path.GetFullPath(recorded) != Path.GetFullPath(model))
            throw new ArgumentException($"{checkpoint} holds a LoRA adapter of {recorded}, not of --model {model}");
        return model;
    }
}
