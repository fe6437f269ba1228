using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Tests.Support;

/// <summary>ILGPU for tests: the CPU accelerator (a simulator, one OS thread per GPU thread) and the PTX compiler (no GPU needed).</summary>
public static class Accelerators
{
    /// <summary>A context with a CPU device of warp 32, up to 8 warps per group (the default allows only 16 threads per group).</summary>
    public static Context CpuContext() => Context.Create(b => b.CPU(new CPUDevice(32, 8, 1)).EnableAlgorithms());

    public static Accelerator Cpu(Context context) => context.CreateCPUAccelerator(0);

    /// <summary>Compiles a kernel method to PTX for the given architecture and returns the PTX text: explicitly grouped (LoadStreamKernel),
    /// or implicitly grouped (LoadAutoGroupedStreamKernel, the first parameter an index).</summary>
    public static string CompileToPtx(Context context, MethodInfo kernel, CudaArchitecture architecture, CudaInstructionSet instructionSet,
        bool implicitlyGrouped = false)
    {
        using var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, instructionSet, null);
        var entryPoint = implicitlyGrouped
            ? EntryPointDescription.FromImplicitlyGroupedKernel(kernel)
            : EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        var compiled = backend.Compile(entryPoint, KernelSpecialization.Empty);
        return ((PTXCompiledKernel)compiled).PTXAssembly;
    }
}
