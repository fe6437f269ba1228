namespace Engine.Backends;

/// <summary>Backend choice by name, as the CLI's --backend takes it.</summary>
public static class BackendChoice
{
    public static readonly string[] Names = ["auto", "cpu", "cuda", "ilgpu-cpu"];

    /// <summary>"auto" takes CUDA when a device is present, else the CPU backend; "ilgpu-cpu" is ILGPU's CPU simulator (tests, not speed).</summary>
    public static IBackend Create(string name) => name switch
    {
        "cpu" => new CpuBackend(),
        "cuda" or "ilgpu-cpu" => IlgpuBackend.Create(name),
        "auto" => IlgpuBackend.CudaAvailable() ? IlgpuBackend.Create("cuda") : new CpuBackend(),
        _ => throw new ArgumentException($"unknown backend '{name}': expected one of {string.Join(", ", Names)}"),
    };
}
