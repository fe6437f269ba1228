using System.Diagnostics;
using Engine.Models;

namespace Engine.Training;

/// <summary>What a run holds: parameters (all, adapters included, and trainable), bytes of weights, gradients and optimizer state, and the process's peak.</summary>
public sealed record MemoryReport(long Parameters, long TrainableParameters, long WeightBytes, long GradientBytes, long OptimizerBytes, long PeakProcessBytes)
{
    /// <summary>Counts what the model and trainer have allocated (float32: 4 bytes an element; AdamW keeps two moments per trainable element).</summary>
    public static MemoryReport Of(Transformer model, Trainer trainer)
    {
        var all = model.Parameters.Concat(model.Adapters.SelectMany(a => a.Parameters)).ToList();
        long weights = all.Sum(p => p.Value.Length);
        long gradients = all.Sum(p => p.Grad?.Length ?? 0);
        long moments = trainer.OptimizerState.Sum(s => s.M.Length + s.V.Length);
        long trainable = trainer.OptimizerState.Sum(s => s.Parameter.Value.Length);
        using var process = Process.GetCurrentProcess();
        return new MemoryReport(weights, trainable, 4 * weights, 4 * gradients, 4 * moments, process.PeakWorkingSet64);
    }

    public override string ToString() =>
        $"parameters {Parameters:N0} ({TrainableParameters:N0} trainable); weights {Mib(WeightBytes)}, gradients {Mib(GradientBytes)}, " +
        $"optimizer state {Mib(OptimizerBytes)}; peak process memory {Mib(PeakProcessBytes)}";

    /// <summary>Bytes in MiB, one decimal: "12.5 MiB".</summary>
    public static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MiB";
}
