using System.Runtime.Intrinsics;

namespace Engine.Backends.Cpu;

/// <summary>
/// How the CPU matmul cuts its work on one machine: the register tile (<see cref="VectorBits"/> 512: 8 × 32 on AVX-512, 256: 6 × 16 on
/// AVX2), the deepest block of the inner dimension (an A micro-panel stays in L1) and the columns of one packed B tile (which stays
/// in L2). <see cref="Host"/> derives them from this machine's vector width and caches, or takes them from ENGINE_CPU_MATMUL.
/// Every choice gives bit-identical results: each output element is the same FMA chain whatever the blocking.
/// </summary>
internal readonly record struct MatMulBlocking(int VectorBits, int MaxDepthBlock, int ColumnBlock)
{
    /// <summary>The environment variable that overrides the derivation, e.g. "vector=256" or "vector=512,kc=512,nc=512".</summary>
    public const string Variable = "ENGINE_CPU_MATMUL";

    /// <summary>Deepest and widest blocks ever chosen: past these a block no longer gains from being bigger.</summary>
    private const int MaxDepth = 512, MaxColumns = 512;

    /// <summary>This process's blocking: <see cref="Derive"/> for this machine, with ENGINE_CPU_MATMUL's fields in its place where set.</summary>
    public static MatMulBlocking Host { get; } = Override(Environment.GetEnvironmentVariable(Variable), Derive(HostVectorBits, CpuCaches.Host));

    /// <summary>The widest vector the hardware runs: 512 with AVX-512, else 256 (AVX2, or .NET's emulation where there is none).</summary>
    public static int HostVectorBits => Vector512.IsHardwareAccelerated ? 512 : 256;

    public int TileRows => VectorBits == 512 ? CpuMatMul.Tile512.Rows : CpuMatMul.Tile256.Rows;

    public int TileWidth => VectorBits == 512 ? CpuMatMul.Tile512.Width : CpuMatMul.Tile256.Width;

    /// <summary>
    /// The blocking for a vector width and a core's caches: the depth block as deep as half the L1d holds for an A micro-panel
    /// (tile rows × depth floats; the B panel streams through the other half), the B tile (depth × columns floats) as wide as the L2 holds,
    /// a multiple of the tile width; both at most 512.
    /// </summary>
    public static MatMulBlocking Derive(int vectorBits, CpuCaches caches)
    {
        var tile = new MatMulBlocking(vectorBits, MaxDepth, MaxColumns);
        int depth = (int)Math.Clamp(caches.L1Data / 2 / (sizeof(float) * tile.TileRows) / 16 * 16, 16, MaxDepth);
        int columns = (int)Math.Clamp(caches.L2 / ((long)sizeof(float) * depth) / tile.TileWidth * tile.TileWidth, tile.TileWidth, MaxColumns);
        return tile with { MaxDepthBlock = depth, ColumnBlock = columns };
    }

    /// <summary>The inner dimension's block depth: k cut into the fewest equal blocks no deeper than MaxDepthBlock (a function of k alone).</summary>
    public int DepthBlock(int k)
    {
        int blocks = (k + MaxDepthBlock - 1) / MaxDepthBlock;
        return (k + blocks - 1) / blocks;
    }

    /// <summary>
    /// <paramref name="derived"/> with the fields that <paramref name="text"/> sets ("vector=256|512", "kc=DEPTH", "nc=COLUMNS", comma-separated;
    /// null or empty sets none); a changed vector width re-rounds the columns to its tile. Throws naming ENGINE_CPU_MATMUL on anything else.
    /// </summary>
    public static MatMulBlocking Override(string? text, MatMulBlocking derived)
    {
        if (string.IsNullOrWhiteSpace(text)) return derived;
        var result = derived;
        foreach (var field in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = field.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || !int.TryParse(parts[1], out int value))
                throw new ArgumentException($"{Variable}: '{field}' is not key=integer (keys: vector, kc, nc), in '{text}'");
            result = parts[0] switch
            {
                "vector" when value is 256 or 512 => result with { VectorBits = value },
                "kc" when value is >= 1 and <= 4096 => result with { MaxDepthBlock = value },
                "nc" when value is >= 1 and <= 8192 => result with { ColumnBlock = value },
                "vector" or "kc" or "nc" => throw new ArgumentException($"{Variable}: {field} is out of range (vector 256 or 512, kc 1–4096, nc 1–8192), in '{text}'"),
                _ => throw new ArgumentException($"{Variable}: unknown key '{parts[0]}' (keys: vector, kc, nc), in '{text}'"),
            };
        }
        int width = result.TileWidth;
        return result with { ColumnBlock = Math.Max(width, result.ColumnBlock / width * width) };
    }

    /// <summary>"6×16 tile (256-bit), depth blocks ≤ 512, B tiles 256 columns".</summary>
    public override string ToString() =>
        $"{TileRows}×{TileWidth} tile ({VectorBits}-bit{(VectorBits == 512 && !Vector512.IsHardwareAccelerated ? ", emulated" : "")}), depth blocks ≤ {MaxDepthBlock}, B tiles {ColumnBlock} columns";
}
