namespace Engine.Backends;

/// <summary>Backend choice by name, as the CLI's --backend takes it, and the matmul precision, as --precision takes it.</summary>
public static class BackendChoice
{
    public static readonly string[] Names = ["auto", "cpu", "cuda", "ilgpu-cpu"];

    public static readonly string[] Precisions = ["bf16", "fp32"];

    /// <summary>"auto" takes CUDA when a device is present, else the CPU backend; "ilgpu-cpu" is ILGPU's CPU simulator (tests, not speed).
    /// Every matmul in fp32.</summary>
    public static IBackend Create(string name) => Create(name, "fp32");

    /// <summary>What the backend's matmuls multiply: an ILGPU backend's precision, fp32 for any other (pass a decorator's inner backend).</summary>
    public static Precision PrecisionOf(IBackend backend) => backend is IlgpuBackend ilgpu ? ilgpu.Precision : Precision.Fp32;

    /// <summary><see cref="PrecisionOf"/> as --precision spells it: "bf16" or "fp32".</summary>
    public static string PrecisionName(IBackend backend) => PrecisionOf(backend) == Precision.Bf16 ? "bf16" : "fp32";

    /// <summary>
    /// The backend of <paramref name="name"/> (as <see cref="Create(string)"/>) whose matmuls run at <paramref name="precision"/>: "bf16",
    /// "fp32", or null for the training default, bf16 on CUDA and fp32 elsewhere. bf16 needs an ILGPU backend (cuda, ilgpu-cpu).
    /// </summary>
    public static IBackend Create(string name, string? precision)
    {
        string kind = name switch
        {
            "auto" => IlgpuBackend.CudaAvailable() ? "cuda" : "cpu",
            "cpu" or "cuda" or "ilgpu-cpu" => name,
            _ => throw new ArgumentException($"unknown backend '{name}': expected one of {string.Join(", ", Names)}"),
        };
        var chosen = precision switch
        {
            null => kind == "cuda" ? Precision.Bf16 : Precision.Fp32,
            "bf16" => Precision.Bf16,
            "fp32" => Precision.Fp32,
            _ => throw new ArgumentException($"unknown precision '{precision}': expected one of {string.Join(", ", Precisions)}"),
        };
        if (kind == "cpu")
        {
            if (chosen == Precision.Bf16)
                throw new ArgumentException($"--precision bf16 needs an ILGPU backend (cuda, or ilgpu-cpu for tests); the cpu backend{(name == "auto" ? " (what auto found: no CUDA device)" : "")} " +
                                            "multiplies in fp32 only: use --precision fp32");
            return new CpuBackend();
        }
        return IlgpuBackend.Create(kind, chosen);
    }
}
