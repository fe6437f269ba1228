using System.Reflection;
using System.Text.RegularExpressions;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>Marks a kernel whose launcher loads it through <see cref="LocalSlotPromotion"/> on CUDA (its PTX, as the tests and the
/// static audit see it, is then the promoted one).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class LocalSlotsInRegistersAttribute : Attribute;

/// <summary>
/// Moves ILGPU's one-variable local-memory slots into registers, in the PTX text of a kernel. ILGPU 1.5.3 passes every operand of
/// inline PTX (<c>CudaAsm.EmitRef</c>, and the output of <c>CudaAsm.Emit</c>) through its own <c>.local</c> depot: a store before the
/// instruction and a load after it, through a register that holds the depot's address. ptxas 11.8 keeps these as a stack frame
/// (GemmBf16: 640 bytes, 112 LDL and 192 STL per 16 HMMA). A depot whose address register is only ever the whole address of
/// <c>ld.local</c>/<c>st.local</c> is a plain variable: each store becomes a <c>mov</c> into a register of the depot's width and each
/// load a <c>mov</c> out of it. Any other use of the address (an offset, arithmetic, a call) leaves that depot as it is.
/// </summary>
public static class LocalSlotPromotion
{
    private static readonly Regex Depot = new(@"^\s*\.local \.align \d+ \.b8 (__local_depot\d+)\[(4|8)\];\r?\n", RegexOptions.Multiline);

    /// <summary>An explicitly grouped kernel compiled by a CUDA accelerator, its local slots promoted, and loaded from that PTX; launch it
    /// through <c>CreateLauncherDelegate</c> (whose first argument is the stream). ILGPU 1.5.3 builds a compiled kernel from PTX text only
    /// internally, so its constructor is reached by reflection (<see cref="Rebuild"/>, checked by the tests).</summary>
    public static Kernel LoadExplicitlyGrouped(Accelerator accelerator, MethodInfo kernel)
    {
        var compiled = (PTXCompiledKernel)accelerator.CompileKernel(EntryPointDescription.FromExplicitlyGroupedKernel(kernel));
        return accelerator.LoadKernel(Rebuild(compiled, Apply(compiled.PTXAssembly)));
    }

    /// <summary>The same compiled kernel (entry point, parameters, shared allocations) with other PTX text.</summary>
    public static PTXCompiledKernel Rebuild(PTXCompiledKernel compiled, string ptx)
    {
        const BindingFlags instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        var entryPoint = typeof(CompiledKernel).GetProperty("EntryPoint", instance)!.GetValue(compiled);
        var constructor = typeof(PTXCompiledKernel).GetConstructor(instance,
            [typeof(ILGPU.Context), typeof(EntryPoint), typeof(CompiledKernel.KernelInfo), typeof(string)])
            ?? throw new MissingMethodException("PTXCompiledKernel(Context, EntryPoint, KernelInfo, string) is gone: ILGPU changed");
        return (PTXCompiledKernel)constructor.Invoke([compiled.Context, entryPoint, compiled.Info, ptx]);
    }

    /// <summary>The PTX with every promotable depot in a register (unchanged when the PTX holds more than one function).</summary>
    public static string Apply(string ptx)
    {
        if (ptx.Contains(".func ", StringComparison.Ordinal)) return ptx;
        var promoted = new List<(string Register, int Bits)>();
        foreach (Match depot in Depot.Matches(ptx))
        {
            string name = depot.Groups[1].Value;
            int bits = depot.Groups[2].Value == "4" ? 32 : 64;
            var addressing = new Regex($@"^\s*mov\.[bu]64\s+(%rd\d+), {name};\r?\n", RegexOptions.Multiline).Matches(ptx);
            if (addressing.Count != 1) continue;
            string address = addressing[0].Groups[1].Value;
            string slot = $"%slot{promoted.Count}";
            var access = new Regex($@"(ld|st)\.local\.[bfus]{bits}\s+(?:\[{Regex.Escape(address)}\],\s*([^;]+)|([^,\[]+),\s*\[{Regex.Escape(address)}\]);");
            int uses = Regex.Matches(ptx, $@"{Regex.Escape(address)}\b").Count;
            if (uses != 1 + access.Matches(ptx).Count) continue; // the address escapes: keep the depot

            ptx = access.Replace(ptx, m => m.Groups[1].Value == "st"
                ? $"mov.b{bits} {slot}, {m.Groups[2].Value.Trim()};"
                : $"mov.b{bits} {m.Groups[3].Value.Trim()}, {slot};");
            ptx = ptx.Remove(addressing[0].Index, addressing[0].Length);
            ptx = new Regex($@"^\s*\.local \.align \d+ \.b8 {name}\[\d\];\r?\n", RegexOptions.Multiline).Replace(ptx, "", 1);
            promoted.Add((slot, bits));
        }
        if (promoted.Count == 0) return ptx;

        // Declare the slot registers where the kernel body opens, before its first register declaration.
        int body = ptx.IndexOf("\t.reg ", StringComparison.Ordinal);
        if (body < 0) throw new InvalidOperationException("the PTX has no register declarations to place the promoted slots beside");
        var declarations = string.Concat(promoted.Select(p => $"\t.reg .b{p.Bits} {p.Register};\n"));
        return ptx.Insert(body, declarations);
    }
}
