using System.CommandLine;
using Engine.Backends;
using Engine.Diagnostics;

namespace Engine.Cli;

/// <summary>`engine selftest`: every backend op against the CPU backend on the same random inputs; non-zero exit when any output differs.</summary>
public static class SelftestCommand
{
    public static Command Create()
    {
        var backend = new Option<string>("--backend")
        {
            Description = "the backend to check against the CPU backend: cuda, ilgpu-cpu (ILGPU's CPU simulator), auto or cpu",
            DefaultValueFactory = _ => "cuda",
        };
        backend.AcceptOnlyFromAmong(BackendChoice.Names);
        var size = new Option<string?>("--size") { Description = "small (ragged tiny shapes) or realistic (GPT-2 124M widths); default: realistic on cuda, else small" };
        size.AcceptOnlyFromAmong("small", "realistic");
        var only = new Option<string?>("--only") { Description = "comma-separated op names to check (e.g. matmul,attention); default: all" };
        var seed = new Option<int>("--seed") { Description = "seed of the random inputs", DefaultValueFactory = _ => 1 };
        var json = new Option<FileInfo?>("--json") { Description = "also write every row to this file" };

        var command = new Command("selftest", "Check every kernel of a backend against the CPU backend (the oracle) by relative error")
            { backend, size, only, seed, json };
        command.SetAction(r =>
        {
            string backendName = r.GetValue(backend)!;
            var sizes = SelftestSizes.Named(r.GetValue(size) ?? (backendName == "cuda" ? "realistic" : "small"));
            using var device = BackendChoice.Create(backendName);
            Console.WriteLine($"selftest: backend {device.Name} against cpu, {sizes.Name} sizes, seed {r.GetValue(seed)}");
            Console.WriteLine(Selftest.Header);
            var rows = Selftest.Run(device, sizes, r.GetValue(seed), CliOptions.OpFilter(r.GetValue(only)), row => Console.WriteLine(Selftest.Format(row)));
            if (r.GetValue(json) is { } file) File.WriteAllText(file.FullName, Selftest.ToJson(device.Name, sizes, rows));
            int failed = rows.Count(row => !row.Passed);
            Console.WriteLine(failed == 0 ? $"selftest: all {rows.Count} outputs PASS" : $"selftest: {failed} of {rows.Count} outputs FAIL");
            return Selftest.ExitCode(rows);
        });
        return command;
    }
}
