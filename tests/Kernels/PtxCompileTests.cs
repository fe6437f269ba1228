using System.Reflection;
using Engine.Kernels;
using Engine.Tests.Support;
using ILGPU;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>Every kernel of Engine.Kernels (<see cref="KernelCatalog.All"/>: every public static method of every public static class named
/// <c>*Kernels</c>, so kernels added later are covered without touching this file) compiles to PTX for sm_80 and sm_90.
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
        PtxProperty.Forbids(typeof(MatMulKernels), nameof(MatMulKernels.GemmBf16), ".local",
            "the mma operands stay in registers (ILGPU's inline-PTX slots promoted by LocalSlotPromotion)"),
        PtxProperty.Forbids(typeof(Bf16Kernels), null, ".local", "the bf16 operands' rounding and transposition keep no local-memory stack frame"),
        PtxProperty.Requires(typeof(Bf16Kernels), nameof(Bf16Kernels.RoundTransposed), "st.b16", "one 16-bit store per bf16 element"),
    ];

    public static TheoryData<string, string> Kernels()
    {
        var data = new TheoryData<string, string>();
        foreach (var kernel in KernelCatalog.All)
            foreach (var architecture in new[] { "SM_80", "SM_90" })
                data.Add(kernel.Name, architecture);
        return data;
    }

    [Fact]
    public void TheFamiliesOfThisIssueAreFound()
    {
        var names = KernelCatalog.All.Select(kernel => kernel.Name).ToHashSet();
        foreach (var expected in new[] { "NormsKernels.LayerNormForward", "NormsKernels.AccumulateColumnSums", "ActivationsKernels.GeluBackward",
                     "EmbeddingKernels.Backward", "ElementwiseKernels.Scale", "ReduceKernels.AddPartials", "AdamWKernels.Step", "AdamWKernels.ClipScale", "CrossEntropyKernels.SoftmaxRows" })
            Assert.Contains(expected, names);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void CompilesToPtx(string kernel, string architectureName)
    {
        var entry = KernelCatalog.All.Single(k => k.Name == kernel);
        var architecture = architectureName == "SM_90" ? CudaArchitecture.SM_90 : CudaArchitecture.SM_80;

        string ptx = KernelCatalog.CompileToPtx(fixture.Context, entry, architecture, CudaInstructionSet.ISA_80);

        // ILGPU 1.5.3 caps the emitted target at sm_80 (the driver JIT-compiles it for sm_90), so the target is only checked to be there.
        Assert.Contains(".visible .entry", ptx);
        Assert.Contains(".target sm_", ptx);
        foreach (var property in Properties.Where(p => p.AppliesTo(entry.Method)))
            Assert.True(ptx.Contains(property.Text, StringComparison.Ordinal) == property.Present,
                $"{kernel} on {architectureName}: the PTX {(property.Present ? "lacks" : "contains")} \"{property.Text}\" ({property.Why})");
    }

    /// <summary>A public static method of a <c>*Kernels</c> class that returns a value is a helper, not a kernel: ptxas rejects what ILGPU
    /// emits for it as an entry point.</summary>
    [Fact]
    public void EveryMethodFoundIsAKernel()
    {
        Assert.All(KernelCatalog.All, kernel => Assert.True(kernel.Method.ReturnType == typeof(void), $"{kernel.Name} returns a value"));
    }

    [Fact]
    public void EveryExplicitlyGroupedKernelStatesItsGroupSize()
    {
        var missing = KernelCatalog.All.Where(k => !k.ImplicitlyGrouped && k.MaxGroupSize is null).Select(k => k.Name).ToList();
        Assert.True(missing.Count == 0, $"explicitly grouped kernels without [GroupSize]: {string.Join(", ", missing)}");
        Assert.All(KernelCatalog.All.Where(k => k.ImplicitlyGrouped), k => Assert.Null(k.MaxGroupSize));
    }

    [Fact]
    public void EveryPtxPropertyAppliesToAKernel()
    {
        Assert.All(Properties, property => Assert.Contains(KernelCatalog.All, kernel => property.AppliesTo(kernel.Method)));
    }
}
