using Engine.Kernels;
using Engine.Tests.Support;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>ILGPU's one-variable local slots (inline PTX operands) moved into registers: GemmBf16 keeps every mma and loses every
/// .local access; an address that escapes keeps its slot; the compiled kernel can be rebuilt around the new text.</summary>
public class LocalSlotPromotionTests(PtxCompileTests.ContextFixture fixture) : IClassFixture<PtxCompileTests.ContextFixture>
{
    private PTXCompiledKernel CompileGemmBf16()
    {
        using var backend = new PTXBackend(fixture.Context, new CudaCapabilityContext(CudaArchitecture.SM_80), CudaArchitecture.SM_80, CudaInstructionSet.ISA_80, null);
        var method = typeof(MatMulKernels).GetMethod(nameof(MatMulKernels.GemmBf16))!;
        return (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
    }

    static int Count(string text, string what) => (text.Length - text.Replace(what, "").Length) / what.Length;

    [Fact]
    public void GemmBf16KeepsEveryMmaAndLosesEveryLocalAccess()
    {
        string raw = CompileGemmBf16().PTXAssembly;
        Assert.Contains("st.local", raw); // what ILGPU emits: the reason for the pass

        string promoted = LocalSlotPromotion.Apply(raw);

        Assert.DoesNotContain(".local", promoted);
        Assert.Equal(16, Count(raw, "mma.sync.aligned.m16n8k16"));
        Assert.Equal(Count(raw, "mma.sync.aligned.m16n8k16"), Count(promoted, "mma.sync.aligned.m16n8k16"));
        Assert.Equal(Count(raw, ".local .align 4 .b8 __local_depot"), Count(promoted, "\t.reg .b32 %slot"));
    }

    [Fact]
    public void AnEscapingAddressKeepsItsSlot()
    {
        const string ptx = """
            .visible .entry Kernel_K()
            {
            	.local .align 4 .b8 __local_depot0[4];
            	.local .align 4 .b8 __local_depot1[4];
            	.reg .b32	%r<4>;
            	.reg .b64	%rd<4>;
            	mov.b64	%rd1, __local_depot0;
            	mov.b64	%rd2, __local_depot1;
            	st.local.b32	[%rd1], %r1;
            	ld.local.b32	%r2, [%rd1];
            	st.local.b32	[%rd2], %r1;
            	add.u64	%rd3, %rd2, 0;
            	ld.local.b32	%r3, [%rd3];
            	ret;
            }
            """;

        string promoted = LocalSlotPromotion.Apply(ptx);

        Assert.Contains("mov.b32 %slot0, %r1;", promoted);
        Assert.Contains("mov.b32 %r2, %slot0;", promoted);
        Assert.Contains("\t.reg .b32 %slot0;", promoted);
        Assert.DoesNotContain("__local_depot0", promoted);
        Assert.Contains(".local .align 4 .b8 __local_depot1[4];", promoted);
        Assert.Contains("st.local.b32\t[%rd2], %r1;", promoted);
    }

    [Fact]
    public void TheCompiledKernelIsRebuiltAroundNewText()
    {
        var compiled = CompileGemmBf16();
        string promoted = LocalSlotPromotion.Apply(compiled.PTXAssembly);

        var rebuilt = LocalSlotPromotion.Rebuild(compiled, promoted);

        Assert.Equal(promoted, rebuilt.PTXAssembly);
        Assert.Equal((compiled.Name, compiled.NumParameters, compiled.IndexType), (rebuilt.Name, rebuilt.NumParameters, rebuilt.IndexType));
        Assert.Same(compiled.Info, rebuilt.Info);
    }
}
