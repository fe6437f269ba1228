using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Engine.Kernels;

/// <summary>One kernel of this assembly: its method, whether ILGPU groups it (the first parameter an index), and the most threads
/// per group its launcher uses (<see cref="GroupSizeAttribute"/>; null when implicitly grouped: ILGPU picks the group size);
/// <paramref name="LocalSlotsInRegisters"/>: loaded through <see cref="LocalSlotPromotion"/> on CUDA.</summary>
public sealed record KernelEntry(MethodInfo Method, bool ImplicitlyGrouped, int? MaxGroupSize, bool LocalSlotsInRegisters)
{
    /// <summary>Family.Kernel, e.g. MatMulKernels.Gemm.</summary>
    public string Name => $"{Method.DeclaringType!.Name}.{Method.Name}";
}

/// <summary>
/// Every kernel of Engine.Kernels, found by reflection: each public static method of each public static class named <c>*Kernels</c>
/// (so kernels added later are found without a list to keep; helpers that are not kernels belong outside those classes), and their
/// PTX, compiled without a GPU.
/// </summary>
public static class KernelCatalog
{
    private static readonly Type[] IndexTypes = [typeof(Index1D), typeof(Index2D), typeof(Index3D), typeof(LongIndex1D), typeof(LongIndex2D), typeof(LongIndex3D)];

    public static IReadOnlyList<KernelEntry> All { get; } = typeof(KernelCatalog).Assembly.GetExportedTypes()
        .Where(type => type.IsAbstract && type.IsSealed && type.Name.EndsWith("Kernels", StringComparison.Ordinal))
        .SelectMany(type => type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
        .Select(method => new KernelEntry(method, method.GetParameters() is [var first, ..] && IndexTypes.Contains(first.ParameterType),
            method.GetCustomAttribute<GroupSizeAttribute>()?.MaxThreads, method.GetCustomAttribute<LocalSlotsInRegistersAttribute>() is not null))
        .OrderBy(entry => entry.Name, StringComparer.Ordinal)
        .ToArray();

    /// <summary>The PTX of a kernel for an architecture and PTX ISA version (ILGPU's PTX backend: no GPU or CUDA toolkit needed), as its
    /// launcher loads it on CUDA.</summary>
    public static string CompileToPtx(Context context, KernelEntry kernel, CudaArchitecture architecture, CudaInstructionSet instructionSet)
    {
        using var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, instructionSet, null);
        var entryPoint = kernel.ImplicitlyGrouped
            ? EntryPointDescription.FromImplicitlyGroupedKernel(kernel.Method)
            : EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method);
        string ptx = ((PTXCompiledKernel)backend.Compile(entryPoint, KernelSpecialization.Empty)).PTXAssembly;
        return kernel.LocalSlotsInRegisters ? LocalSlotPromotion.Apply(ptx) : ptx;
    }
}
