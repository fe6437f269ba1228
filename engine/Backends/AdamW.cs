using System.Globalization;
using System.Runtime.Intrinsics;
using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>AdamW with decoupled weight decay (Loshchilov &amp; Hutter), following torch.optim.AdamW's single-tensor update op for op.</summary>
public static unsafe class CpuAdamW
{
    /// <summary>g = gradScale·grad (the clipping factor); p *= 1 − lr·wd; m = lerp(m, g, 1 − β1); v = β2·v + (1 − β2)·g·g; p += (−lr/(1 − β1^t))·m / (√v/√(1 − β2^t) + eps);
    /// t = step ≥ 1. As torch: the scalars in float64 then rounded to float32, the lerp as torch's (m + w(g − m) for w &lt; ½, else g − (g − m)(1 − w)).
    /// A NaN gradScale (a non-finite loss or gradient norm: <see cref="GradientClipping.Scale"/>) changes nothing.</summary>
    /// <remarks>The float hyperparameters are widened through their shortest decimal form (0.999f → 0.999, not 0.99900001287),
    /// so 1 − β2, the bias corrections and lr·wd are the ones torch computes from the Python floats a user would write.</remarks>
    public static void Step(Span<float> param, ReadOnlySpan<float> grad, float gradScale, Span<float> m, Span<float> v, float lr, float beta1, float beta2, float eps, float weightDecay, int step)
    {
        Arguments.RequireSameLength(grad.Length, param.Length, nameof(grad), nameof(param));
        Arguments.RequireSameLength(m.Length, param.Length, nameof(m), nameof(param));
        Arguments.RequireSameLength(v.Length, param.Length, nameof(v), nameof(param));
        if (step < 1) throw new ArgumentException($"step = {step} must be at least 1 (the first update is step 1)", nameof(step));
        if (float.IsNaN(gradScale)) return;

        double lrAsWritten = AsWritten(lr), beta1AsWritten = AsWritten(beta1), beta2AsWritten = AsWritten(beta2);
        double biasCorrection1 = 1 - Math.Pow(beta1AsWritten, step);
        double biasCorrection2 = 1 - Math.Pow(beta2AsWritten, step);
        var update = new Update(
            GradScale: gradScale,
            Decay: (float)(1 - lrAsWritten * AsWritten(weightDecay)),
            LerpWeight: (float)(1 - beta1AsWritten),
            Beta2: beta2,
            OneMinusBeta2: (float)(1 - beta2AsWritten),
            BiasCorrection2Sqrt: (float)Math.Sqrt(biasCorrection2),
            Eps: eps,
            MinusStepSize: (float)(-(lrAsWritten / biasCorrection1)));

        fixed (float* pParam = param, pGrad = grad, pm = m, pv = v)
        {
            float* paramp = pParam, gradp = pGrad, mp = pm, vp = pv;
            var width = CpuLanes.Current;
            CpuParallel.ForEachChunk(param.Length, (start, count) => StepRange(width, paramp + start, gradp + start, mp + start, vp + start, count, update));
        }
    }

    /// <summary>The per-step constants, already rounded to float32 as torch rounds its Python-float scalars.</summary>
    readonly record struct Update(float GradScale, float Decay, float LerpWeight, float Beta2, float OneMinusBeta2, float BiasCorrection2Sqrt, float Eps, float MinusStepSize);

    /// <summary>Whole vectors of the width, then the rest one at a time.</summary>
    static void StepRange(LaneWidth width, float* param, float* grad, float* m, float* v, int count, Update u)
    {
        int i = 0;
        if (width == LaneWidth.Bits512) StepVectors<Lanes512, Vector512<float>>(param, grad, m, v, ref i, count, u);
        if (width == LaneWidth.Bits256) StepVectors<Lanes256, Vector256<float>>(param, grad, m, v, ref i, count, u);
        StepVectors<LanesScalar, float>(param, grad, m, v, ref i, count, u);
    }

    /// <summary>The update for elements [i, count) in whole vectors of TL; i ends at the first element not updated.</summary>
    static void StepVectors<TL, TV>(float* param, float* grad, float* m, float* v, ref int i, int count, Update u) where TL : struct, ILanes<TV> where TV : struct
    {
        // torch's lerp(m, g, w): m + w·(g − m) when |w| < ½, else g − (g − m)·(1 − w); both are base + coefficient·(g − m).
        bool smallWeight = MathF.Abs(u.LerpWeight) < 0.5f;
        TV coefficient = TL.Splat(smallWeight ? u.LerpWeight : -(1f - u.LerpWeight));
        TV gradScale = TL.Splat(u.GradScale), decay = TL.Splat(u.Decay), beta2 = TL.Splat(u.Beta2), oneMinusBeta2 = TL.Splat(u.OneMinusBeta2),
            bc2Sqrt = TL.Splat(u.BiasCorrection2Sqrt), eps = TL.Splat(u.Eps), minusStepSize = TL.Splat(u.MinusStepSize);
        for (; i + TL.Count <= count; i += TL.Count)
        {
            TV g = TL.Mul(TL.Load(grad + i), gradScale), mOld = TL.Load(m + i);
            TV mNew = TL.Add(smallWeight ? mOld : g, TL.Mul(coefficient, TL.Subtract(g, mOld)));
            TV vNew = TL.Add(TL.Mul(TL.Load(v + i), beta2), TL.Mul(TL.Mul(oneMinusBeta2, g), g));
            TV denominator = TL.Add(TL.Divide(TL.Sqrt(vNew), bc2Sqrt), eps);
            TL.Store(m + i, mNew);
            TL.Store(v + i, vNew);
            TL.Store(param + i, TL.Add(TL.Mul(TL.Load(param + i), decay), TL.Divide(TL.Mul(minusStepSize, mNew), denominator)));
        }
    }

    /// <summary>The float64 nearest the float's shortest round-trip decimal: what the user wrote (0.999f → 0.999).</summary>
    static double AsWritten(float value)
    {
        Span<char> text = stackalloc char[32];
        value.TryFormat(text, out int written, "R", CultureInfo.InvariantCulture);
        return double.Parse(text[..written], NumberStyles.Float, CultureInfo.InvariantCulture);
    }
}

public sealed partial class CpuBackend
{
    public void ClipScale(Tensor scale, Tensor loss, Tensor sumOfSquares, float maxNorm)
    {
        Arguments.RequireLength(scale.Length, 1, nameof(scale), "one element");
        F(scale)[0] = GradientClipping.Scale(D(loss)[0], D(sumOfSquares)[0], maxNorm);
    }

    public void AdamW(Tensor param, Tensor grad, Tensor gradScale, Tensor m, Tensor v, AdamWStep s)
    {
        Arguments.RequireLength(gradScale.Length, 1, nameof(gradScale), "one element");
        CpuAdamW.Step(F(param), F(grad), F(gradScale)[0], F(m), F(v), s.LearningRate, s.Beta1, s.Beta2, s.Eps, s.WeightDecay, s.Step);
    }
}

public sealed partial class IlgpuBackend
{
    Kernels.AdamW? _adamW;
    Kernels.AdamW AdamWLauncher => Launcher(ref _adamW, a => new Kernels.AdamW(a));

    public void ClipScale(Tensor scale, Tensor loss, Tensor sumOfSquares, float maxNorm) => AdamWLauncher.ClipScale(F(scale), D(loss), D(sumOfSquares), maxNorm);

    public void AdamW(Tensor param, Tensor grad, Tensor gradScale, Tensor m, Tensor v, AdamWStep s)
    {
        Written(param);
        AdamWLauncher.Step(F(param), F(grad), F(gradScale), F(m), F(v), s.LearningRate, s.Beta1, s.Beta2, s.Eps, s.WeightDecay, s.Step);
    }
}
