using Engine.IO;

namespace Engine.Training;

/// <summary>
/// A checkpoint a run continues from, and everything resuming does, here in one place: <see cref="Find"/> locates the checkpoint
/// (a checkpoint-N directory, or the newest in a run directory) and refuses another seed than the run's (the seed orders the data);
/// <see cref="Restore"/> (called by the <see cref="TrainingLoop"/> given this point) loads the AdamW moments, sets the trainer's step
/// (the learning-rate schedule and dropout masks are functions of it) and skips the micro-batches the run had consumed. The weights
/// themselves are the caller's to load first (a model directory: <see cref="TrainingCheckpoint.LoadModel"/>; an adapter:
/// <see cref="PeftAdapter.Load"/> on its base), as they decide which model is built. With nothing else random in a step, the resumed
/// run's losses are bit for bit those of an uninterrupted one.
/// </summary>
public sealed record ResumePoint(string Checkpoint, TrainingState State)
{
    public static ResumePoint Find(string path, int seed)
    {
        string checkpoint = TrainingCheckpoint.Find(path);
        var state = TrainingCheckpoint.ReadState(checkpoint);
        if (state.Seed != seed)
            throw new ArgumentException($"{checkpoint} was trained with --seed {state.Seed}, which orders its data; resume it with that seed");
        return new ResumePoint(checkpoint, state);
    }

    /// <summary>True when the checkpoint holds LoRA adapters only (a PEFT directory), false for a whole model.</summary>
    public bool HoldsAdapter => PeftAdapter.IsAdapter(Checkpoint);

    /// <summary>Restores the trainer and returns the run's data past what it had consumed, with that count.</summary>
    internal (IEnumerable<Batch> Remaining, long Consumed) Restore(Trainer trainer, IEnumerable<Batch> data)
    {
        TrainingCheckpoint.LoadMoments(Checkpoint, trainer);
        trainer.RestoreStepCount(State.Step);
        return (data.Skip(checked((int)State.MicroBatchesConsumed)), State.MicroBatchesConsumed);
    }
}
