using Engine.Autograd;
using Engine.Backends;
using Engine.Tensors;
using Xunit;

namespace Engine.Tests.Autograd;

public class TapeTests
{
    private static Variable Leaf(CpuBackend backend, bool requiresGrad, float[] values, params int[] shape)
    {
        var t = backend.Allocate(DType.F32, shape);
        backend.Upload(t, values);
        return new Variable(t, requiresGrad) { Grad = requiresGrad ? backend.Allocate(DType.F32, shape) : null };
    }

    /// <summary>y = (x·Wᵀ) + x, L = Σ y·r: dx = r·W + r, and a frozen W gets no gradient buffer at all.</summary>
    [Fact]
    public void BackwardReplaysInReverseAndSkipsFrozenParameters()
    {
        using var backend = new CpuBackend();
        var x = Leaf(backend, true, [1, 2, 3, 4], 2, 2);
        var w = Leaf(backend, false, [1, 0, 2, 1], 2, 2);
        using var tape = new Tape(backend);
        var y = tape.Add(tape.Linear(x, w, null), x);
        Assert.True(y.RequiresGrad);
        backend.Upload(tape.GradOf(y), [1f, 1f, 1f, 1f]);
        tape.Backward();

        // dx = dy·W + dy: rows of [1,1]·[[1,0],[2,1]] = [3,1], plus 1.
        Assert.Equal([4f, 2f, 4f, 2f], CpuBackend.F(x.Grad).ToArray());
        Assert.Null(w.Grad);
    }

    [Fact]
    public void GradientsAccumulateAcrossBackwardPasses()
    {
        using var backend = new CpuBackend();
        var x = Leaf(backend, true, [0.5f, -1f], 1, 2);
        using var tape = new Tape(backend);
        for (int pass = 0; pass < 2; pass++)
        {
            var y = tape.Gelu(x);
            backend.Upload(tape.GradOf(y), [1f, 1f]);
            tape.Backward();
            tape.Reset();
        }
        var once = new float[2];
        CpuGelu.Backward(once, [1f, 1f], [0.5f, -1f]);
        Assert.Equal(once.Select(g => 2 * g), CpuBackend.F(x.Grad).ToArray());
    }

    [Fact]
    public void WithoutRecordingNothingRequiresAGradient()
    {
        using var backend = new CpuBackend();
        var x = Leaf(backend, true, [1, 2], 1, 2);
        using var tape = new Tape(backend, recordGradients: false);
        var y = tape.Gelu(x);
        Assert.False(y.RequiresGrad);
        tape.Backward();
        Assert.Equal([0f, 0f], CpuBackend.F(x.Grad).ToArray());
    }

    /// <summary>Op outputs take pooled memory without clearing it, gradients must start at zero: with every pooled buffer left
    /// full of NaN by an earlier step, a forward and backward give the same numbers as on a fresh backend.</summary>
    [Fact]
    public void DirtyPooledMemoryChangesNothing()
    {
        float[] Run(CpuBackend backend)
        {
            var x = Leaf(backend, true, [0.5f, -1f, 2f, 0.25f, -0.75f, 1.5f], 3, 2);
            var w = Leaf(backend, true, [1f, -2f, 0.5f, 3f], 2, 2);
            using var tape = new Tape(backend);
            var y = tape.Add(tape.Gelu(tape.Linear(x, w, null)), x);
            backend.Upload(tape.GradOf(y), [1f, -1f, 0.5f, 2f, -0.25f, 1f]);
            tape.Backward();
            return [.. CpuBackend.F(y.Value).ToArray(), .. CpuBackend.F(x.Grad).ToArray(), .. CpuBackend.F(w.Grad).ToArray()];
        }

        using var fresh = new CpuBackend();
        var expected = Run(fresh);

        using var dirty = new CpuBackend();
        var garbage = Enumerable.Range(0, 16).Select(_ => dirty.AllocateUninitialized(DType.F32, 3, 2)).ToList();
        foreach (var t in garbage)
        {
            CpuBackend.F(t).Fill(float.NaN);
            t.Dispose();
        }
        Assert.Equal(expected, Run(dirty));
    }

    /// <summary>A parameter's gradient buffer is its trainer's: the tape gives activations theirs, and refuses to invent a parameter's.</summary>
    [Fact]
    public void AParameterWithoutAGradientBufferIsRefused()
    {
        using var backend = new CpuBackend();
        var x = new Variable(backend.Allocate(DType.F32, 1, 2), requiresGrad: true, "x");
        using var tape = new Tape(backend);
        var y = tape.Gelu(x);
        backend.Upload(tape.GradOf(y), [1f, 1f]);
        var e = Assert.Throws<InvalidOperationException>(() => tape.Backward());
        Assert.Contains("x requires a gradient but has no gradient buffer", e.Message);
    }

    /// <summary>A row slice made before its whole has a gradient gets a view of it once the owner sets one, and loses it when cleared.</summary>
    [Fact]
    public void ARowSlicesGradientIsAViewOfItsWholes()
    {
        using var backend = new CpuBackend();
        var whole = new Variable(backend.Allocate(DType.F32, 4, 2), requiresGrad: true, "b");
        Assert.Same(whole, whole.RowSlice(0, 4));
        var slice = whole.RowSlice(1, 2);
        Assert.Equal([2, 2], slice.Value.Shape);
        Assert.Null(slice.Grad);

        whole.Grad = backend.Allocate(DType.F32, 4, 2);
        backend.Upload(slice.Grad!, [1f, 2f, 3f, 4f]);
        Assert.Equal([0f, 0f, 1f, 2f, 3f, 4f, 0f, 0f], CpuBackend.F(whole.Grad).ToArray());
        Assert.Throws<InvalidOperationException>(() => slice.Grad = null);
        whole.Release();
        Assert.Null(slice.Grad);
    }
}
