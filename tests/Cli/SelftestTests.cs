using System.Text.Json;
using System.Text.RegularExpressions;
using Engine.Backends;
using Engine.Diagnostics;
using Engine.Tensors;
using Engine.Tests.Kernels;
using Xunit;

namespace Engine.Tests.Cli;

/// <summary>The logic of `engine selftest` and `engine bench kernels`, in process: the self-test passes ILGPU's CPU simulator, fails a
/// backend with one wrong op, and the kernel benchmark's JSON has the keys bench/gpu/compare.py reads.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class SelftestTests(IlgpuCpuBackendFixture fixture) : IClassFixture<IlgpuCpuBackendFixture>
{
    [Fact]
    public void EveryOpOfTheIlgpuBackendMatchesTheCpuBackend()
    {
        var rows = Selftest.Run(fixture.Backend, SelftestSizes.Small);
        Assert.All(rows, r => Assert.True(r.Passed, Selftest.Format(r)));
        Assert.Contains(rows, r => r.Op == "matmul bf16"); // a bf16 backend on the same accelerator; that every IBackend op runs is the next test
        Assert.Contains(rows, r => r.Op == "cross-entropy bf16");
        Assert.Equal(0, Selftest.ExitCode(rows));
    }

    /// <summary>An op added to IBackend without a self-test check fails here: the self-test calls every op (all but the memory calls).</summary>
    [Fact]
    public void TheSelftestCallsEveryOpOfIBackend()
    {
        string[] memory = [nameof(IBackend.Allocate), nameof(IBackend.AllocateUninitialized), nameof(IBackend.Release), nameof(IBackend.Upload),
            nameof(IBackend.Download), nameof(IBackend.Zero), nameof(IBackend.Copy)];
        using var counter = new CallRecorder(new CpuBackend());
        Selftest.Run(counter, SelftestSizes.Small);
        var ops = typeof(IBackend).GetMethods().Where(m => !m.IsSpecialName).Select(m => m.Name).Except(memory).ToHashSet();
        Assert.True(ops.Count >= 27, string.Join(", ", ops));
        Assert.Empty(ops.Except(counter.Called));
    }

    /// <summary>Records the name of every call that goes through <see cref="DelegatingBackend"/>'s hook.</summary>
    sealed class CallRecorder(IBackend inner) : DelegatingBackend(inner)
    {
        public HashSet<string> Called { get; } = [];

        protected override void Call(string op, Action call)
        {
            Called.Add(op);
            call();
        }

        protected override T Call<T>(string op, Func<T> call)
        {
            Called.Add(op);
            return call();
        }
    }

    [Theory]
    [InlineData(nameof(IBackend.GeluForward), "fwd y")]
    [InlineData(nameof(IBackend.GeluBackward), "bwd dx")]
    public void AWrongOpFailsAndOnlyThatOne(string faultyOp, string failingOutput)
    {
        using var faulty = new FaultyBackend(fixture.Backend, faultyOp);
        var rows = Selftest.Run(faulty, SelftestSizes.Small, include: op => op is "gelu" or "elementwise");
        var failed = Assert.Single(rows, r => !r.Passed);
        Assert.Equal(("gelu", failingOutput), (failed.Op, failed.Output));
        Assert.True(failed.Error > Selftest.ShortSum, Selftest.Format(failed));
        Assert.Equal(1, Selftest.ExitCode(rows));
        Assert.Contains("FAIL", Selftest.Format(failed));
    }

    [Fact]
    public void AnOpThatThrowsIsAFailedRow()
    {
        using var faulty = new FaultyBackend(fixture.Backend, nameof(IBackend.Add));
        var row = Assert.Single(Selftest.Run(faulty, SelftestSizes.Small, include: op => op == "elementwise"), r => !r.Passed);
        Assert.Contains("injected fault", row.Failure);
    }

    [Fact]
    public void KernelBenchOnTheCpuBackendWritesEveryOpWithItsKeys()
    {
        using var cpu = new CpuBackend();
        var rows = KernelBench.Run(cpu, KernelBenchSizes.Tiny, new KernelBenchOptions(Warmup: 1, Repeats: 3, MaxSecondsPerOp: 0.05));
        using var json = JsonDocument.Parse(KernelBench.ToJson(cpu.Name, KernelBenchSizes.Tiny, rows));

        var root = json.RootElement;
        Assert.Equal("engine", root.GetProperty("source").GetString());
        Assert.Equal("cpu", root.GetProperty("backend").GetString());
        Assert.Equal("tiny", root.GetProperty("sizes").GetString());
        var results = root.GetProperty("results").EnumerateArray().ToArray();
        var ops = results.Select(r => r.GetProperty("op").GetString()!).ToArray();
        Assert.Equal(ops.Length, results.Select(r => (r.GetProperty("op").GetString(), r.GetProperty("shape").GetString())).Distinct().Count());
        Assert.Empty(CompareReadsOfOurs().Where(op => !op.Contains("bf16")).Except(ops)); // bench/gpu/compare.py's goals find their rows
        Assert.Equal("gpt2_step", ops[^1]);
        foreach (var r in results)
        {
            string op = r.GetProperty("op").GetString()!;
            Assert.Equal(JsonValueKind.Null, r.GetProperty("error").ValueKind);
            Assert.True(r.GetProperty("ms").GetDouble() > 0, op);
            Assert.True(r.GetProperty("samples").GetInt32() >= 3, op);
            Assert.False(string.IsNullOrEmpty(r.GetProperty("shape").GetString()), op);
            bool hasFlops = r.GetProperty("flops").GetDouble() > 0, hasBytes = r.GetProperty("bytes").GetDouble() > 0;
            Assert.True(hasFlops || hasBytes, op);
            Assert.Equal(hasFlops, r.GetProperty("gflops").ValueKind == JsonValueKind.Number);
            Assert.Equal(hasBytes, r.GetProperty("gbps").ValueKind == JsonValueKind.Number);
            Assert.Equal(op == "gpt2_step", r.GetProperty("tokens_per_s").ValueKind == JsonValueKind.Number);
        }
        Assert.Equal("B=1,T=32,H=2,D=16", results.Single(r => r.GetProperty("op").GetString() == "attention_fwd").GetProperty("shape").GetString());
    }

    /// <summary>The op names bench/gpu/compare.py's goals read from the engine's JSON (`ms(ours, "op")`, `total(ours, "op", ...)`).</summary>
    static IEnumerable<string> CompareReadsOfOurs()
    {
        string script = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "bench", "compare.py"));
        var calls = Regex.Matches(script, @"(?:ms|total)\(ours, ([^)]*)\)").Select(m => m.Groups[1].Value).ToArray();
        Assert.NotEmpty(calls);
        return calls.SelectMany(args => Regex.Matches(args, "\"(\\w+)\"").Select(m => m.Groups[1].Value));
    }

    /// <summary>The ILGPU backend with one op made wrong: GeluForward nudges one output element, GeluBackward overwrites dx instead of
    /// accumulating into it, Add throws.</summary>
    sealed class FaultyBackend(IBackend inner, string faultyOp) : DelegatingBackend(inner)
    {
        public override string Name => $"faulty {faultyOp}";

        public override void GeluForward(Tensor y, Tensor x)
        {
            Inner.GeluForward(y, x);
            if (faultyOp != nameof(GeluForward)) return;
            var values = new float[y.Length];
            Inner.Download(y, values);
            values[values.Length / 2] += 1e-3f;
            Inner.Upload(y, values);
        }

        public override void GeluBackward(Tensor dx, Tensor dy, Tensor x)
        {
            if (faultyOp == nameof(GeluBackward)) Inner.Zero(dx);
            Inner.GeluBackward(dx, dy, x);
        }

        public override void Add(Tensor y, Tensor a, Tensor b)
        {
            if (faultyOp == nameof(Add)) throw new InvalidOperationException("injected fault");
            Inner.Add(y, a, b);
        }

        /// <summary>The fixture owns the ILGPU backend.</summary>
        public override void Dispose() { }
    }
}
