using System.Text.Json;
using Engine.Backends;
using Engine.Backends.Cpu;
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
    static readonly string[] Families =
        ["embedding", "layernorm", "rmsnorm", "matmul", "lora", "rope", "attention", "cached attention", "gelu", "swiglu", "elementwise", "dropout", "adamw", "cross-entropy", "matmul bf16"];

    [Fact]
    public void EveryOpOfTheIlgpuBackendMatchesTheCpuBackend()
    {
        var rows = Selftest.Run(fixture.Backend, SelftestSizes.Small);
        Assert.All(rows, r => Assert.True(r.Passed, Selftest.Format(r)));
        Assert.Equal(Families, rows.Select(r => r.Op).Distinct());
        Assert.Equal(0, Selftest.ExitCode(rows));
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
        string[] expectedOps =
        [
            "copy", "matmul_fp32_fwd", "matmul_fp32_bwd", "attention_fwd", "attention_bwd", "cross_entropy_fused", "lora_fwd", "lora_bwd",
            "layernorm_fwd", "layernorm_bwd",
            "rmsnorm_fwd", "rmsnorm_bwd", "gelu_fwd", "gelu_bwd", "swiglu_fwd", "swiglu_bwd", "rope_fwd", "rope_bwd", "embedding_fwd", "embedding_bwd",
            "add", "accumulate", "scale", "sum_of_squares", "adamw", "gpt2_step",
        ];
        Assert.Equal(expectedOps, results.Select(r => r.GetProperty("op").GetString()));
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

    /// <summary>The ILGPU backend with one op made wrong: GeluForward nudges one output element, GeluBackward overwrites dx instead of
    /// accumulating into it, Add throws.</summary>
    sealed class FaultyBackend(IBackend inner, string faultyOp) : IBackend
    {
        public string Name => $"faulty {faultyOp}";
        public Tensor Allocate(DType dtype, params int[] shape) => inner.Allocate(dtype, shape);
        public void Release(Tensor tensor) => inner.Release(tensor);
        public void Upload(Tensor dst, ReadOnlySpan<float> src) => inner.Upload(dst, src);
        public void Upload(Tensor dst, ReadOnlySpan<int> src) => inner.Upload(dst, src);
        public void Download(Tensor src, Span<float> dst) => inner.Download(src, dst);
        public void Zero(Tensor tensor) => inner.Zero(tensor);
        public void Copy(Tensor dst, Tensor src) => inner.Copy(dst, src);

        public void EmbeddingForward(Tensor y, Tensor ids, Tensor positions, Tensor wte, Tensor? wpe, int n, int c) => inner.EmbeddingForward(y, ids, positions, wte, wpe, n, c);
        public void EmbeddingBackward(Tensor? dwte, Tensor? dwpe, Tensor dy, Tensor ids, Tensor positions, int n, int c) => inner.EmbeddingBackward(dwte, dwpe, dy, ids, positions, n, c);
        public void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor w, Tensor b, int n, int c, float eps) => inner.LayerNormForward(y, mean, rstd, x, w, b, n, c, eps);
        public void LayerNormBackward(Tensor? dx, Tensor? dw, Tensor? db, Tensor dy, Tensor x, Tensor w, Tensor mean, Tensor rstd, int n, int c) => inner.LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, n, c);
        public void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor w, int n, int c, float eps) => inner.RmsNormForward(y, rstd, x, w, n, c, eps);
        public void RmsNormBackward(Tensor? dx, Tensor? dw, Tensor dy, Tensor x, Tensor w, Tensor rstd, int n, int c) => inner.RmsNormBackward(dx, dw, dy, x, w, rstd, n, c);
        public void MatMulForward(Tensor y, Tensor x, Tensor w, Tensor? bias, int n, int inDim, int outDim) => inner.MatMulForward(y, x, w, bias, n, inDim, outDim);
        public void MatMulBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor dy, Tensor x, Tensor w, int n, int inDim, int outDim) => inner.MatMulBackward(dx, dw, dbias, dy, x, w, n, inDim, outDim);
        public void LoraForward(Tensor y, Tensor h, Tensor x, Tensor w, Tensor? bias, Tensor loraA, Tensor loraB, float scale, int n, int inDim, int outDim, int rank)
            => inner.LoraForward(y, h, x, w, bias, loraA, loraB, scale, n, inDim, outDim, rank);
        public void LoraBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor? dLoraA, Tensor? dLoraB, Tensor dy, Tensor x, Tensor w, Tensor loraA, Tensor loraB, Tensor h,
            float scale, int n, int inDim, int outDim, int rank)
            => inner.LoraBackward(dx, dw, dbias, dLoraA, dLoraB, dy, x, w, loraA, loraB, h, scale, n, inDim, outDim, rank);
        public void RopeForward(Tensor y, Tensor x, Tensor positions, Tensor invFreq, int n, int heads, int headDim) => inner.RopeForward(y, x, positions, invFreq, n, heads, headDim);
        public void RopeBackward(Tensor dx, Tensor dy, Tensor positions, Tensor invFreq, int n, int heads, int headDim) => inner.RopeBackward(dx, dy, positions, invFreq, n, heads, headDim);
        public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape shape) => inner.AttentionForward(output, lse, q, k, v, segments, shape);
        public void AttentionBackward(Tensor? dq, Tensor? dk, Tensor? dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape shape)
            => inner.AttentionBackward(dq, dk, dv, dOutput, output, lse, q, k, v, segments, shape);
        public void CachedAttentionForward(Tensor output, Tensor q, Tensor k, Tensor v, Tensor kCache, Tensor vCache, Tensor slots, CachedAttentionShape shape)
            => inner.CachedAttentionForward(output, q, k, v, kCache, vCache, slots, shape);
        public void SwiGluForward(Tensor y, Tensor gate, Tensor up) => inner.SwiGluForward(y, gate, up);
        public void SwiGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up) => inner.SwiGluBackward(dGate, dUp, dy, gate, up);
        public void Accumulate(Tensor dst, Tensor src) => inner.Accumulate(dst, src);
        public void DropoutForward(Tensor y, Tensor x, float p, float scale, uint seed) => inner.DropoutForward(y, x, p, scale, seed);
        public void DropoutBackward(Tensor dx, Tensor dy, float p, float scale, uint seed) => inner.DropoutBackward(dx, dy, p, scale, seed);
        public double CrossEntropyForwardBackward(Tensor? dx, Tensor? dw, Tensor x, Tensor w, Tensor targets, int n, int c, int vocab, float gradScale)
            => inner.CrossEntropyForwardBackward(dx, dw, x, w, targets, n, c, vocab, gradScale);
        public double SumOfSquares(Tensor x) => inner.SumOfSquares(x);
        public void Scale(Tensor x, float s) => inner.Scale(x, s);
        public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step) => inner.AdamW(param, grad, m, v, step);

        public void GeluForward(Tensor y, Tensor x)
        {
            inner.GeluForward(y, x);
            if (faultyOp != nameof(GeluForward)) return;
            var values = new float[y.Length];
            inner.Download(y, values);
            values[values.Length / 2] += 1e-3f;
            inner.Upload(y, values);
        }

        public void GeluBackward(Tensor dx, Tensor dy, Tensor x)
        {
            if (faultyOp == nameof(GeluBackward)) inner.Zero(dx);
            inner.GeluBackward(dx, dy, x);
        }

        public void Add(Tensor y, Tensor a, Tensor b)
        {
            if (faultyOp == nameof(Add)) throw new InvalidOperationException("injected fault");
            inner.Add(y, a, b);
        }

        public void Dispose() { }
    }
}
