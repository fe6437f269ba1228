using System.Runtime.Intrinsics;
using Engine.Backends;
using Engine.Backends.Cpu;
using Engine.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Engine.Tests.Ops;

/// <summary>The matmul's register tiles and cache blockings (<see cref="MatMulBlocking"/>): every one, forced, gives each output element
/// as the same FMA chain, bit for bit; the host's choice is a function of its vector width and caches.</summary>
public class MatMulBlockingTests(ITestOutputHelper output)
{
    /// <summary>Both tiles at the blockings the derivation gives (Zen 3, Zen 4, Sapphire Rapids caches) and at small ones that cut these
    /// shapes into many depth blocks (kc 32, and 100: not a multiple of a transpose block) and column blocks (nc 32, 48, 64).</summary>
    public static TheoryData<int, int, int> Blockings => new()
    {
        { 256, 512, 256 }, { 512, 512, 512 }, { 256, 32, 32 }, { 256, 100, 48 }, { 512, 48, 64 }, { 512, 100, 32 },
    };

    // Ragged against both tiles (6 × 16, 8 × 32); 130·300·90 ≥ 2^21 multiply-adds runs on several tasks; 1 × 17 × 5 is one edge tile.
    private static readonly (int n, int inDim, int outDim)[] Shapes = [(37, 70, 53), (9, 130, 200), (130, 300, 90), (1, 17, 5)];

    [Theory]
    [MemberData(nameof(Blockings))]
    public void EveryBlockingGivesTheInOrderFmaChainBitForBit(int vectorBits, int depth, int columns)
    {
        var blocking = new MatMulBlocking(vectorBits, depth, columns);
        bool emulated = vectorBits == 512 ? !Vector512.IsHardwareAccelerated : !Vector256.IsHardwareAccelerated;
        output.WriteLine($"{blocking}: {(emulated ? "no hardware for this width here, so .NET's emulation of its vectors ran it" : "ran on this host's vector hardware")}");
        foreach (var (n, inDim, outDim) in Shapes)
        {
            var c = MatMulCase.Random(n, inDim, outDim, seed: 40);
            string shape = $"{n}×{inDim}×{outDim}, {blocking}";

            var y = TestData.Poisoned(n * outDim);
            CpuMatMul.Forward(y, c.X, c.W, c.Bias, n, inDim, outDim, blocking);
            Assert.True(ChainForward(c).AsSpan().SequenceEqual(y), $"y differs from the in-order FMA chain at {shape}");
            Check.Close(c.Forward64(withBias: true), y, 1e-5, $"y at {shape}");

            var start = c.RandomGradients(seed: 44);
            var (dx, dw) = (start.dx.ToArray(), start.dw.ToArray());
            CpuMatMul.Backward(dx, dw, default, c.Dy, c.X, c.W, n, inDim, outDim, blocking);
            var (dx64, dw64, _) = c.Backward64();
            Assert.True(ChainInputGradient(c, start.dx).AsSpan().SequenceEqual(dx), $"dx differs from the in-order FMA chain at {shape}");
            Assert.True(ChainWeightGradient(c, start.dw).AsSpan().SequenceEqual(dw), $"dw differs from the in-order FMA chain at {shape}");
            Check.Close(start.dx.Select((s, i) => s + dx64[i]).ToArray(), dx, 1e-5, $"dx at {shape}");
            Check.Close(start.dw.Select((s, i) => s + dw64[i]).ToArray(), dw, 1e-5, $"dw at {shape}");
        }
    }

    [Fact]
    public void TheHostBlockingIsDerivedFromItsVectorWidthAndCaches()
    {
        var derived = MatMulBlocking.Derive(MatMulBlocking.HostVectorBits, CpuCaches.Host);
        output.WriteLine($"host: {MatMulBlocking.Host} (derived: {derived}; caches L1d {CpuCaches.Host.L1Data >> 10} KiB, L2 {CpuCaches.Host.L2 >> 10} KiB from {CpuCaches.Host.Source})");
        Assert.Equal(derived, MatMulBlocking.Derive(MatMulBlocking.HostVectorBits, CpuCaches.Host));
        if (Environment.GetEnvironmentVariable(MatMulBlocking.Variable) is null) Assert.Equal(derived, MatMulBlocking.Host);

        // Zen 3 (AVX2): the 6×16 tile, a B tile of half the 1 MiB that fills a Zen 4's L2. Zen 4 and Sapphire Rapids (AVX-512): 8×32, 512 × 512.
        Assert.Equal(new MatMulBlocking(256, 512, 256), MatMulBlocking.Derive(256, new CpuCaches(32 << 10, 512 << 10, "Zen 3")));
        Assert.Equal(new MatMulBlocking(512, 512, 512), MatMulBlocking.Derive(512, new CpuCaches(32 << 10, 1 << 20, "Zen 4")));
        Assert.Equal(new MatMulBlocking(512, 512, 512), MatMulBlocking.Derive(512, new CpuCaches(48 << 10, 2 << 20, "Sapphire Rapids")));
        // Small caches shrink the blocks, to whole tiles.
        Assert.Equal(new MatMulBlocking(256, 336, 96), MatMulBlocking.Derive(256, new CpuCaches(16 << 10, 128 << 10, "small")));
    }

    [Fact]
    public void TheEnvironmentOverrideSetsOnlyTheFieldsItNames()
    {
        var derived = new MatMulBlocking(512, 512, 512);
        Assert.Equal(derived, MatMulBlocking.Override(null, derived));
        Assert.Equal(derived, MatMulBlocking.Override(" ", derived));
        Assert.Equal(new MatMulBlocking(256, 512, 512), MatMulBlocking.Override("vector=256", derived));
        Assert.Equal(new MatMulBlocking(512, 256, 128), MatMulBlocking.Override("kc=256, nc=128", derived));
        // Columns are rounded down to whole tiles of the chosen width (at least one).
        Assert.Equal(new MatMulBlocking(512, 512, 64), MatMulBlocking.Override("nc=80", derived));
        Assert.Equal(new MatMulBlocking(256, 512, 16), MatMulBlocking.Override("vector=256,nc=5", derived));

        foreach (var bad in new[] { "vector=128", "kc=0", "nc=x", "tile=6x16", "kc" })
        {
            var ex = Assert.Throws<ArgumentException>(() => MatMulBlocking.Override(bad, derived));
            Assert.Contains(MatMulBlocking.Variable, ex.Message);
        }
    }

    [Fact]
    public void CacheSizesAreReadFromSysfsLayout()
    {
        using var dir = new TempDirectory();
        void Index(int i, string level, string type, string size)
        {
            var path = Directory.CreateDirectory(Path.Combine(dir.Path, $"index{i}")).FullName;
            File.WriteAllText(Path.Combine(path, "level"), level + "\n");
            File.WriteAllText(Path.Combine(path, "type"), type + "\n");
            File.WriteAllText(Path.Combine(path, "size"), size + "\n");
        }
        Assert.Null(CpuCaches.FromSysfs(Path.Combine(dir.Path, "missing")));
        Index(0, "1", "Data", "48K");
        Index(1, "1", "Instruction", "32K");
        Assert.Null(CpuCaches.FromSysfs(dir.Path));
        Index(2, "2", "Unified", "2048K");
        Index(3, "3", "Unified", "105M");
        Assert.Equal(new CpuCaches(48 << 10, 2 << 20, dir.Path), CpuCaches.FromSysfs(dir.Path));

        Assert.Equal(1L << 20, CpuCaches.ParseSize("1M"));
        Assert.Equal(512L, CpuCaches.ParseSize("512"));
        Assert.Null(CpuCaches.ParseSize("K"));
        Assert.Null(CpuCaches.ParseSize(""));
    }

    /// <summary>y[i, o] = bias[o], then y = fma(x[i, p], w[o, p], y) for p in order.</summary>
    private static float[] ChainForward(MatMulCase c) => InOrderChain(c.N, c.OutDim, c.InDim, (i, p) => c.X[i * c.InDim + p],
        (p, o) => c.W[o * c.InDim + p], Enumerable.Range(0, c.N * c.OutDim).Select(e => c.Bias[e % c.OutDim]).ToArray());

    /// <summary>dx[i, p] = start, then dx = fma(dy[i, o], w[o, p], dx) for o in order.</summary>
    private static float[] ChainInputGradient(MatMulCase c, float[] start) =>
        InOrderChain(c.N, c.InDim, c.OutDim, (i, o) => c.Dy[i * c.OutDim + o], (o, p) => c.W[o * c.InDim + p], start);

    /// <summary>dw[o, p] = start, then dw = fma(dy[i, o], x[i, p], dw) for i in order.</summary>
    private static float[] ChainWeightGradient(MatMulCase c, float[] start) =>
        InOrderChain(c.OutDim, c.InDim, c.N, (o, i) => c.Dy[i * c.OutDim + o], (i, p) => c.X[i * c.InDim + p], start);

    /// <summary>C[i, j] = start[i, j], then C = fma(a(i, p), b(p, j), C) for p in 0..k in order (C is m × n).</summary>
    private static float[] InOrderChain(int m, int n, int k, Func<int, int, float> a, Func<int, int, float> b, float[] start)
    {
        var result = start.ToArray();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float acc = result[i * n + j];
                for (int p = 0; p < k; p++) acc = MathF.FusedMultiplyAdd(a(i, p), b(p, j), acc);
                result[i * n + j] = acc;
            }
        return result;
    }
}
