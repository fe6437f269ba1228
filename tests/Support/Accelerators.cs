using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Engine.Tests.Support;

/// <summary>ILGPU for tests: the CPU accelerator (a simulator, one OS thread per GPU thread); PTX comes from <see cref="Engine.Kernels.KernelCatalog"/>.</summary>
public static class Accelerators
{
    /// <summary>A context with a CPU device of warp 32, up to 8 warps per group (the default allows only 16 threads per group).</summary>
    public static Context CpuContext() => Context.Create(b => b.CPU(new CPUDevice(32, 8, 1)).EnableAlgorithms());

    public static Accelerator Cpu(Context context) => context.CreateCPUAccelerator(0);
}
