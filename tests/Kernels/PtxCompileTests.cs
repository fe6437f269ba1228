using System.Reflection;
using Engine.Kernels;
using Engine.Tests.Support;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>Every kernel of Engine.Kernels compiles to PTX for sm_80 and sm_90, found by reflection: every public static method of every
/// public static class named <c>*Kernels</c>, so kernels added later are covered without touching this file. A kernel whose first parameter is
/// an index (Index1D/2D/3D or LongIndex1D/2D/3D) is implicitly grouped (LoadAutoGroupedStreamKernel), any other explicitly grouped (LoadStreamKernel).
/// Non-kernel helpers therefore belong outside the <c>*Kernels</c> classes (or are not public).</summary>
public class PtxCompileTests(PtxCompileTests.ContextFixture fixture) : IClassFixture<PtxCompileTests.ContextFixture>
{
    public sealed class ContextFixture : IDisposable
    {
        public Context Context { get; } = Accelerators.CpuContext();
        public void Dispose() => Context.Dispose();
    }

    static readonly Type[] IndexTypes = [typeof(Index1D), typeof(Index2D), typeof(Index3D), typeof(LongIndex1D), typeof(LongIndex2D), typeof(LongIndex3D)];

    static IEnumerable<MethodInfo> KernelMethods() =>
        typeof(NormsKernels).Assembly.GetExportedTypes()
            .Where(type => type.IsAbstract && type.IsSealed && type.Name.EndsWith("Kernels", StringComparison.Ordinal))
            .SelectMany(type => type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .OrderBy(method => $"{method.DeclaringType!.Name}.{method.Name}", StringComparer.Ordinal);

    public static TheoryData<string, string> Kernels()
    {
        var data = new TheoryData<string, string>();
        foreach (var method in KernelMethods())
            foreach (var architecture in new[] { "SM_80", "SM_90" })
                data.Add($"{method.DeclaringType!.Name}.{method.Name}", architecture);
        return data;
    }

    [Fact]
    public void TheFamiliesOfThisIssueAreFound()
    {
        var names = KernelMethods().Select(method => $"{method.DeclaringType!.Name}.{method.Name}").ToHashSet();
        foreach (var expected in new[] { "NormsKernels.LayerNormForward", "NormsKernels.AccumulateColumnSums", "ActivationsKernels.GeluBackward",
                     "EmbeddingKernels.Backward", "ElementwiseKernels.Scale", "ReduceKernels.SumPartials", "AdamWKernels.Step", "CrossEntropyKernels.SoftmaxRows" })
            Assert.Contains(expected, names);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void CompilesToPtx(string kernel, string architectureName)
    {
        var method = KernelMethods().Single(m => $"{m.DeclaringType!.Name}.{m.Name}" == kernel);
        var architecture = architectureName == "SM_90" ? CudaArchitecture.SM_90 : CudaArchitecture.SM_80;
        bool implicitlyGrouped = method.GetParameters() is [var first, ..] && IndexTypes.Contains(first.ParameterType);

        string ptx = implicitlyGrouped
            ? CompileImplicitlyGrouped(method, architecture)
            : Accelerators.CompileToPtx(fixture.Context, method, architecture, CudaInstructionSet.ISA_80);

        // ILGPU 1.5.3 caps the emitted target at sm_80 (the driver JIT-compiles it for sm_90), so only the shape of the PTX is checked.
        Assert.Contains(".visible .entry", ptx);
        Assert.Contains(".target sm_", ptx);
    }

    string CompileImplicitlyGrouped(MethodInfo kernel, CudaArchitecture architecture)
    {
        using var backend = new PTXBackend(fixture.Context, new CudaCapabilityContext(architecture), architecture, CudaInstructionSet.ISA_80, null);
        var compiled = backend.Compile(EntryPointDescription.FromImplicitlyGroupedKernel(kernel), KernelSpecialization.Empty);
        return ((PTXCompiledKernel)compiled).PTXAssembly;
    }
}
