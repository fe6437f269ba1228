using System.Reflection;
using Engine.Kernels;
using Engine.Tests.Support;
using ILGPU;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>Every kernel of Engine.Kernels compiles to PTX for sm_80 and sm_90, found by reflection: every public static method of every
/// public static class named <c>*Kernels</c>, so kernels added later are covered without touching this file. A kernel whose first parameter is
/// an index (Index1D/2D/3D or LongIndex1D/2D/3D) is implicitly grouped (LoadAutoGroupedStreamKernel), any other explicitly grouped (LoadStreamKernel).
/// Non-kernel helpers therefore belong outside the <c>*Kernels</c> classes (or are not public).
/// Each kernel is compiled once per architecture, and its PTX is also checked for the properties that <see cref="Properties"/> lists for it.</summary>
public class PtxCompileTests(PtxCompileTests.ContextFixture fixture) : IClassFixture<PtxCompileTests.ContextFixture>
{
    public sealed class ContextFixture : IDisposable
    {
        public Context Context { get; } = Accelerators.CpuContext();
        public void Dispose() => Context.Dispose();
    }

    /// <summary>A substring that the PTX of a kernel must contain (<paramref name="Present"/>) or must not, and why;
    /// <paramref name="Kernel"/> null: every kernel of <paramref name="Family"/>, those added later included.</summary>
    public sealed record PtxProperty(Type Family, string? Kernel, string Text, bool Present, string Why)
    {
        public static PtxProperty Requires(Type family, string? kernel, string text, string why) => new(family, kernel, text, true, why);
        public static PtxProperty Forbids(Type family, string? kernel, string text, string why) => new(family, kernel, text, false, why);

        public bool AppliesTo(MethodInfo kernel) => kernel.DeclaringType == Family && (Kernel == null || Kernel == kernel.Name);
    }

    public static readonly PtxProperty[] Properties =
    [
        PtxProperty.Forbids(typeof(AttentionKernels), null, ".local", "the register tiles stay in registers (no local-memory stack frame)"),
        PtxProperty.Forbids(typeof(CachedAttentionKernels), null, ".local", "no local-memory stack frame: the query and accumulators live in shared memory"),
        PtxProperty.Forbids(typeof(RopeKernels), null, "sin.approx", "accurate trigonometry: no approximate float sine"),
        PtxProperty.Forbids(typeof(RopeKernels), null, "cos.approx", "accurate trigonometry: no approximate float cosine"),
        PtxProperty.Requires(typeof(MatMulKernels), nameof(MatMulKernels.Gemm), "ld.shared.v4.f32", "16-byte shared reads in the inner loop"),
        PtxProperty.Forbids(typeof(MatMulKernels), nameof(MatMulKernels.Gemm), ".local", "the 8 × 8 accumulators stay in registers"),
        PtxProperty.Requires(typeof(MatMulKernels), nameof(MatMulKernels.GemmBf16), "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32",
            "bf16 tensor-core multiply-accumulate"),
    ];

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

        string ptx = Accelerators.CompileToPtx(fixture.Context, method, architecture, CudaInstructionSet.ISA_80, implicitlyGrouped);

        // ILGPU 1.5.3 caps the emitted target at sm_80 (the driver JIT-compiles it for sm_90), so the target is only checked to be there.
        Assert.Contains(".visible .entry", ptx);
        Assert.Contains(".target sm_", ptx);
        foreach (var property in Properties.Where(p => p.AppliesTo(method)))
            Assert.True(ptx.Contains(property.Text, StringComparison.Ordinal) == property.Present,
                $"{kernel} on {architectureName}: the PTX {(property.Present ? "lacks" : "contains")} \"{property.Text}\" ({property.Why})");
    }

    /// <summary>A public static method of a <c>*Kernels</c> class that returns a value is a helper, not a kernel: ptxas rejects what ILGPU
    /// emits for it as an entry point.</summary>
    [Fact]
    public void EveryMethodFoundIsAKernel()
    {
        Assert.All(KernelMethods(), method => Assert.True(method.ReturnType == typeof(void), $"{method.DeclaringType!.Name}.{method.Name} returns a value"));
    }

    [Fact]
    public void EveryPtxPropertyAppliesToAKernel()
    {
        var kernels = KernelMethods().ToList();
        Assert.All(Properties, property => Assert.Contains(kernels, property.AppliesTo));
    }
}
