using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>
/// An <see cref="IBackend"/> that forwards every call to another, for decorators (profiling, fault injection, call counting): a
/// subclass overrides only the calls it changes, or <see cref="Call"/> to wrap all of them. Disposing it disposes the inner backend.
/// </summary>
public abstract class DelegatingBackend(IBackend inner) : IBackend
{
    /// <summary>The backend every call goes to.</summary>
    protected IBackend Inner => inner;

    public virtual string Name => inner.Name;

    /// <summary>Every forwarded call passes through here with its <see cref="IBackend"/> method name, but Release, Upload and Download
    /// (span arguments cannot be captured in a delegate).</summary>
    protected virtual void Call(string op, Action call) => call();

    /// <inheritdoc cref="Call(string, Action)"/>
    protected virtual T Call<T>(string op, Func<T> call) => call();

    // ---- memory ----
    public virtual Tensor Allocate(DType dtype, params int[] shape) => Call(nameof(Allocate), () => inner.Allocate(dtype, shape));
    public virtual Tensor AllocateUninitialized(DType dtype, params int[] shape) => Call(nameof(AllocateUninitialized), () => inner.AllocateUninitialized(dtype, shape));
    public virtual void Release(Tensor tensor) => inner.Release(tensor);
    public virtual void Upload(Tensor dst, ReadOnlySpan<float> src) => inner.Upload(dst, src);
    public virtual void Upload(Tensor dst, ReadOnlySpan<int> src) => inner.Upload(dst, src);
    public virtual void Download(Tensor src, Span<float> dst) => inner.Download(src, dst);
    public virtual void Download(Tensor src, Span<double> dst) => inner.Download(src, dst);
    public virtual void Zero(Tensor tensor) => Call(nameof(Zero), () => inner.Zero(tensor));
    public virtual void Copy(Tensor dst, Tensor src) => Call(nameof(Copy), () => inner.Copy(dst, src));

    // ---- ops ----
    public virtual void EmbeddingForward(Tensor y, Tensor ids, Tensor positions, Tensor wte, Tensor? wpe, int n, int c)
        => Call(nameof(EmbeddingForward), () => inner.EmbeddingForward(y, ids, positions, wte, wpe, n, c));
    public virtual void EmbeddingBackward(Tensor? dwte, Tensor? dwpe, Tensor dy, Tensor ids, Tensor positions, int n, int c)
        => Call(nameof(EmbeddingBackward), () => inner.EmbeddingBackward(dwte, dwpe, dy, ids, positions, n, c));

    public virtual void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor w, Tensor b, int n, int c, float eps)
        => Call(nameof(LayerNormForward), () => inner.LayerNormForward(y, mean, rstd, x, w, b, n, c, eps));
    public virtual void LayerNormBackward(Tensor? dx, Tensor? dw, Tensor? db, Tensor dy, Tensor x, Tensor w, Tensor mean, Tensor rstd, int n, int c)
        => Call(nameof(LayerNormBackward), () => inner.LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, n, c));

    public virtual void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor w, int n, int c, float eps)
        => Call(nameof(RmsNormForward), () => inner.RmsNormForward(y, rstd, x, w, n, c, eps));
    public virtual void RmsNormBackward(Tensor? dx, Tensor? dw, Tensor dy, Tensor x, Tensor w, Tensor rstd, int n, int c)
        => Call(nameof(RmsNormBackward), () => inner.RmsNormBackward(dx, dw, dy, x, w, rstd, n, c));

    public virtual void MatMulForward(Tensor y, Tensor x, Tensor w, Tensor? bias, int n, int inDim, int outDim)
        => Call(nameof(MatMulForward), () => inner.MatMulForward(y, x, w, bias, n, inDim, outDim));
    public virtual void MatMulBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor dy, Tensor x, Tensor w, int n, int inDim, int outDim)
        => Call(nameof(MatMulBackward), () => inner.MatMulBackward(dx, dw, dbias, dy, x, w, n, inDim, outDim));

    public virtual void LoraForward(Tensor y, Tensor h, Tensor x, Tensor w, Tensor? bias, Tensor loraA, Tensor loraB, float scale, int n, int inDim, int outDim, int rank)
        => Call(nameof(LoraForward), () => inner.LoraForward(y, h, x, w, bias, loraA, loraB, scale, n, inDim, outDim, rank));
    public virtual void LoraBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor? dLoraA, Tensor? dLoraB, Tensor dy, Tensor x, Tensor w, Tensor loraA, Tensor loraB,
        Tensor h, float scale, int n, int inDim, int outDim, int rank)
        => Call(nameof(LoraBackward), () => inner.LoraBackward(dx, dw, dbias, dLoraA, dLoraB, dy, x, w, loraA, loraB, h, scale, n, inDim, outDim, rank));

    public virtual void RopeForward(Tensor y, Tensor x, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => Call(nameof(RopeForward), () => inner.RopeForward(y, x, positions, invFreq, n, heads, headDim));
    public virtual void RopeBackward(Tensor dx, Tensor dy, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => Call(nameof(RopeBackward), () => inner.RopeBackward(dx, dy, positions, invFreq, n, heads, headDim));

    public virtual void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape shape)
        => Call(nameof(AttentionForward), () => inner.AttentionForward(output, lse, q, k, v, segments, shape));
    public virtual void AttentionBackward(Tensor? dq, Tensor? dk, Tensor? dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments,
        AttentionShape shape)
        => Call(nameof(AttentionBackward), () => inner.AttentionBackward(dq, dk, dv, dOutput, output, lse, q, k, v, segments, shape));

    public virtual void CachedAttentionForward(Tensor output, Tensor q, Tensor k, Tensor v, Tensor kCache, Tensor vCache, Tensor slots, CachedAttentionShape shape)
        => Call(nameof(CachedAttentionForward), () => inner.CachedAttentionForward(output, q, k, v, kCache, vCache, slots, shape));

    public virtual void GeluForward(Tensor y, Tensor x) => Call(nameof(GeluForward), () => inner.GeluForward(y, x));
    public virtual void GeluBackward(Tensor dx, Tensor dy, Tensor x) => Call(nameof(GeluBackward), () => inner.GeluBackward(dx, dy, x));

    public virtual void SwiGluForward(Tensor y, Tensor gate, Tensor up) => Call(nameof(SwiGluForward), () => inner.SwiGluForward(y, gate, up));
    public virtual void SwiGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up)
        => Call(nameof(SwiGluBackward), () => inner.SwiGluBackward(dGate, dUp, dy, gate, up));

    public virtual void DropoutForward(Tensor y, Tensor x, float p, float scale, uint seed) => Call(nameof(DropoutForward), () => inner.DropoutForward(y, x, p, scale, seed));
    public virtual void DropoutBackward(Tensor dx, Tensor dy, float p, float scale, uint seed) => Call(nameof(DropoutBackward), () => inner.DropoutBackward(dx, dy, p, scale, seed));

    public virtual void Add(Tensor y, Tensor a, Tensor b) => Call(nameof(Add), () => inner.Add(y, a, b));
    public virtual void Accumulate(Tensor dst, Tensor src) => Call(nameof(Accumulate), () => inner.Accumulate(dst, src));

    public virtual void CrossEntropyForwardBackward(Tensor loss, Tensor? dx, Tensor? dw, Tensor x, Tensor w, Tensor rows, Tensor targets, int n, int kept, int c, int vocab, float gradScale)
        => Call(nameof(CrossEntropyForwardBackward), () => inner.CrossEntropyForwardBackward(loss, dx, dw, x, w, rows, targets, n, kept, c, vocab, gradScale));

    // ---- optimizer ----
    public virtual void SumOfSquares(Tensor sum, IReadOnlyList<Tensor> xs) => Call(nameof(SumOfSquares), () => inner.SumOfSquares(sum, xs));
    public virtual void ClipScale(Tensor scale, Tensor loss, Tensor sumOfSquares, float maxNorm)
        => Call(nameof(ClipScale), () => inner.ClipScale(scale, loss, sumOfSquares, maxNorm));
    public virtual void Scale(Tensor x, float s) => Call(nameof(Scale), () => inner.Scale(x, s));
    public virtual void AdamW(Tensor param, Tensor grad, Tensor gradScale, Tensor m, Tensor v, AdamWStep step)
        => Call(nameof(AdamW), () => inner.AdamW(param, grad, gradScale, m, v, step));

    public virtual void Dispose() => inner.Dispose();
}
