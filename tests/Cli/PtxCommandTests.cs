using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>`engine bench ptx` (the input of bench/gpu/ptxas-audit.sh): one PTX file per kernel of the catalog, at the ISA asked for,
/// and a manifest of every kernel's grouping and group size.</summary>
public class PtxCommandTests
{
    [Fact]
    public void WritesThePtxOfEveryKernelAndAManifest()
    {
        using var temp = new TempDirectory();
        var (exitCode, error) = CliRun.Run("bench", "ptx", "--isa", "78", "--out", temp.Path);

        Assert.True(exitCode == 0, error);
        foreach (var kernel in KernelCatalog.All)
        {
            string ptx = File.ReadAllText(Path.Combine(temp.Path, kernel.Name + ".ptx"));
            Assert.Contains(".version 7.8", ptx);
            Assert.Contains(".visible .entry", ptx);
        }
        var manifest = File.ReadAllLines(Path.Combine(temp.Path, "kernels.tsv"));
        Assert.Equal("kernel\tgrouping\tmax_group_size", manifest[0]);
        Assert.Equal(KernelCatalog.All.Select(k => $"{k.Name}\t{(k.ImplicitlyGrouped ? "implicit" : "explicit")}\t{k.MaxGroupSize?.ToString() ?? "auto"}"),
            manifest.Skip(1));
        Assert.Contains("MatMulKernels.Gemm\texplicit\t256", manifest);
    }
}
