using System.Runtime.Intrinsics.X86;
using System.Text;

namespace Engine.Backends.Cpu;

/// <summary>One core's data caches in bytes, and where the sizes came from.</summary>
internal readonly record struct CpuCaches(long L1Data, long L2, string Source)
{
    /// <summary>Assumed when neither the kernel nor CPUID says: the smallest of the x86 server cores this project has met (Zen 3).</summary>
    public static readonly CpuCaches Default = new(32 << 10, 512 << 10, "default");

    /// <summary>This machine's: Linux's /sys/devices/system/cpu/cpu0/cache, else CPUID (leaf 4 on Intel, 0x8000001D on AMD), else <see cref="Default"/>.</summary>
    public static CpuCaches Host { get; } = FromSysfs("/sys/devices/system/cpu/cpu0/cache") ?? FromCpuid() ?? Default;

    /// <summary>Reads index*/level, type and size ("32K", "1024K", "2M") under <paramref name="directory"/>; null when L1d or L2 is missing.</summary>
    internal static CpuCaches? FromSysfs(string directory)
    {
        if (!Directory.Exists(directory)) return null;
        long l1 = 0, l2 = 0;
        foreach (var index in Directory.EnumerateDirectories(directory, "index*"))
        {
            string? level = ReadLine(Path.Combine(index, "level")), type = ReadLine(Path.Combine(index, "type")), size = ReadLine(Path.Combine(index, "size"));
            if (level is null || type is null || ParseSize(size) is not long bytes) continue;
            if (level == "1" && type == "Data") l1 = bytes;
            if (level == "2" && type is "Unified" or "Data") l2 = bytes;
        }
        return l1 > 0 && l2 > 0 ? new CpuCaches(l1, l2, directory) : null;
    }

    /// <summary>"32K" → 32768, "2M" → 2097152, "512" → 512; null when unreadable.</summary>
    internal static long? ParseSize(string? text)
    {
        if (string.IsNullOrEmpty(text)) return null;
        long unit = char.ToUpperInvariant(text[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        string digits = unit == 1 ? text : text[..^1];
        return long.TryParse(digits, out long value) && value > 0 ? value * unit : null;
    }

    private static string? ReadLine(string path)
    {
        try { return File.Exists(path) ? File.ReadAllText(path).Trim() : null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>The deterministic cache parameters leaf (Intel's 4, AMD's 0x8000001D: the same layout), subleaf by subleaf.</summary>
    private static CpuCaches? FromCpuid()
    {
        if (!X86Base.IsSupported) return null;
        var (maxLeaf, b, c, d) = X86Base.CpuId(0, 0);
        string vendor = Encoding.ASCII.GetString([.. BitConverter.GetBytes(b), .. BitConverter.GetBytes(d), .. BitConverter.GetBytes(c)]);
        int leaf = vendor == "AuthenticAMD" ? unchecked((int)0x8000001D) : 4;
        if (leaf == 4 ? maxLeaf < 4 : (uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax < 0x8000001D) return null;
        long l1 = 0, l2 = 0;
        for (int sub = 0; sub < 16; sub++)
        {
            var (eax, ebx, ecx, _) = X86Base.CpuId(leaf, sub);
            int type = eax & 0x1F, level = (eax >> 5) & 0x7;
            if (type == 0) break;
            long bytes = (long)(((ebx >> 22) & 0x3FF) + 1) * (((ebx >> 12) & 0x3FF) + 1) * ((ebx & 0xFFF) + 1) * ((long)(uint)ecx + 1);
            if (level == 1 && type == 1) l1 = bytes;
            if (level == 2 && type is 1 or 3) l2 = bytes;
        }
        return l1 > 0 && l2 > 0 ? new CpuCaches(l1, l2, $"CPUID leaf 0x{leaf:X}") : null;
    }
}
