using System.CommandLine;
using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Cli;

/// <summary>
/// `engine bench ptx`: writes the PTX of every kernel (as the PTX tests compile them) and a manifest, for NVIDIA's assembler to check
/// without a GPU (bench/gpu/ptxas-audit.sh). ptxas of CUDA 11.8 reads PTX ISA 7.8 at most, hence --isa 78 there.
/// </summary>
public static class PtxCommand
{
    public static Command Create()
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "directory for {Family}.{Kernel}.ptx and kernels.tsv", Required = true };
        var isa = new Option<int>("--isa") { Description = "PTX ISA version: 78 (CUDA 11.8's ptxas) or 80", DefaultValueFactory = _ => 80 };
        isa.AcceptOnlyFromAmong("78", "80");
        var command = new Command("ptx", "Write every kernel's PTX (sm_80) and a manifest (grouping, most threads per group)") { output, isa };
        command.SetAction(r => Run(r.GetValue(output)!, r.GetValue(isa) == 78 ? CudaInstructionSet.ISA_78 : CudaInstructionSet.ISA_80));
        return command;
    }

    private static int Run(DirectoryInfo output, CudaInstructionSet isa)
    {
        output.Create();
        using var context = Context.Create(b => b.CPU().EnableAlgorithms());
        var manifest = new List<string> { "kernel\tgrouping\tmax_group_size" };
        foreach (var kernel in KernelCatalog.All)
        {
            File.WriteAllText(Path.Combine(output.FullName, kernel.Name + ".ptx"), KernelCatalog.CompileToPtx(context, kernel, CudaArchitecture.SM_80, isa));
            manifest.Add($"{kernel.Name}\t{(kernel.ImplicitlyGrouped ? "implicit" : "explicit")}\t{kernel.MaxGroupSize?.ToString() ?? "auto"}");
        }
        File.WriteAllLines(Path.Combine(output.FullName, "kernels.tsv"), manifest);
        Console.WriteLine($"wrote the PTX of {KernelCatalog.All.Count} kernels (sm_80, {isa}) and kernels.tsv to {output.FullName}");
        return 0;
    }
}
