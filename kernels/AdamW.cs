using System.Globalization;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>The per-step constants of an AdamW update, computed on the host as CpuAdamW computes them (torch's float64 scalars rounded to float32).</summary>
/// <param name="LerpFromOld">1: m + w·(g − m) (torch's lerp for w &lt; ½); 0: g − (g − m)(1 − w). <see cref="LerpCoefficient"/> is w or −(1 − w) to match.</param>
public readonly record struct AdamWUpdate(float Decay, float LerpCoefficient, int LerpFromOld, float Beta2, float OneMinusBeta2, float BiasCorrection2Sqrt, float Eps, float MinusStepSize)
{
    /// <summary>The constants of update number <paramref name="step"/> (≥ 1). The float hyperparameters are widened through their shortest
    /// decimal form (0.999f → 0.999), so 1 − β2, the bias corrections and lr·wd are the ones torch computes from the Python floats a user writes.</summary>
    public static AdamWUpdate For(float lr, float beta1, float beta2, float eps, float weightDecay, int step)
    {
        if (step < 1) throw new ArgumentException($"step = {step} must be at least 1 (the first update is step 1)", nameof(step));
        double lrAsWritten = AsWritten(lr), beta1AsWritten = AsWritten(beta1), beta2AsWritten = AsWritten(beta2);
        double biasCorrection1 = 1 - Math.Pow(beta1AsWritten, step);
        double biasCorrection2 = 1 - Math.Pow(beta2AsWritten, step);
        float lerpWeight = (float)(1 - beta1AsWritten);
        bool smallWeight = MathF.Abs(lerpWeight) < 0.5f;
        return new AdamWUpdate(
            Decay: (float)(1 - lrAsWritten * AsWritten(weightDecay)),
            LerpCoefficient: smallWeight ? lerpWeight : -(1f - lerpWeight),
            LerpFromOld: smallWeight ? 1 : 0,
            Beta2: beta2,
            OneMinusBeta2: (float)(1 - beta2AsWritten),
            BiasCorrection2Sqrt: (float)Math.Sqrt(biasCorrection2),
            Eps: eps,
            MinusStepSize: (float)(-(lrAsWritten / biasCorrection1)));
    }

    /// <summary>The float64 nearest the float's shortest round-trip decimal: what the user wrote (0.999f → 0.999).</summary>
    static double AsWritten(float value)
    {
        Span<char> text = stackalloc char[32];
        value.TryFormat(text, out int written, "R", CultureInfo.InvariantCulture);
        return double.Parse(text[..written], NumberStyles.Float, CultureInfo.InvariantCulture);
    }
}

/// <summary>Clipping by global norm as one factor, the same code on the host (CpuBackend) and in <see cref="AdamWKernels.ClipScale"/>.</summary>
public static class GradientClipping
{
    /// <summary>(float)(maxNorm / norm) with norm = √sumOfSquares when maxNorm &gt; 0 and the norm exceeds it, else 1; NaN when the loss or the
    /// sum of squares is not finite: the step must then update nothing.</summary>
    public static float Scale(double loss, double sumOfSquares, float maxNorm)
    {
        if (double.IsNaN(loss) || double.IsInfinity(loss) || double.IsNaN(sumOfSquares) || double.IsInfinity(sumOfSquares)) return float.NaN;
        double norm = Math.Sqrt(sumOfSquares);
        return maxNorm > 0 && norm > maxNorm ? (float)(maxNorm / norm) : 1f;
    }
}

/// <summary>AdamW with decoupled weight decay, following torch.optim.AdamW's single-tensor update op for op, as CpuAdamW; and the clipping factor it reads.</summary>
public static class AdamWKernels
{
    // scale[0] = GradientClipping.Scale(loss[0], sumOfSquares[0], maxNorm): the step's clipping factor, or NaN (do not update), on the device.
    // One thread.
    public static void ClipScale(Index1D i, ArrayView<float> scale, ArrayView<double> loss, ArrayView<double> sumOfSquares, float maxNorm)
        => scale[0] = GradientClipping.Scale(loss[0], sumOfSquares[0], maxNorm);

    // g = s·grad (s = gradScale[0]); p = p·(1 − lr·wd) − (lr/(1 − β1^t))·m' / (√v'/√(1 − β2^t) + eps), m' = lerp(m, g, 1 − β1), v' = β2·v + (1 − β2)·g²;
    // m, v updated in place; a NaN s leaves p, m and v as they are. Index i over the parameters: one thread per element.
    public static void Step(Index1D i, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> gradScale, ArrayView<float> m, ArrayView<float> v, AdamWUpdate u)
    {
        float s = gradScale[0];
        if (float.IsNaN(s)) return;
        float g = grad[i] * s;
        float mOld = m[i];
        float mNew = (u.LerpFromOld != 0 ? mOld : g) + u.LerpCoefficient * (g - mOld);
        float vNew = v[i] * u.Beta2 + u.OneMinusBeta2 * g * g;
        float denominator = MathF.Sqrt(vNew) / u.BiasCorrection2Sqrt + u.Eps;
        m[i] = mNew;
        v[i] = vNew;
        param[i] = param[i] * u.Decay + u.MinusStepSize * mNew / denominator;
    }
}

/// <summary>Launches the optimizer kernels on the accelerator's default stream (no synchronisation); arguments as CpuAdamW.</summary>
public sealed class AdamW(Accelerator accelerator)
{
    readonly Action<Index1D, ArrayView<float>, ArrayView<double>, ArrayView<double>, float> _clipScale =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, ArrayView<double>, float>(AdamWKernels.ClipScale);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamWUpdate> _step =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamWUpdate>(AdamWKernels.Step);

    /// <summary>scale[0] = GradientClipping.Scale(loss[0], sumOfSquares[0], maxNorm), without the host reading either.</summary>
    public void ClipScale(ArrayView<float> scale, ArrayView<double> loss, ArrayView<double> sumOfSquares, float maxNorm)
    {
        Arguments.RequireLength(scale.Length, 1, nameof(scale), "one element");
        Arguments.RequireLength(loss.Length, 1, nameof(loss), "one element");
        Arguments.RequireLength(sumOfSquares.Length, 1, nameof(sumOfSquares), "one element");
        _clipScale(1, scale, loss, sumOfSquares, maxNorm);
    }

    /// <summary>One AdamW update of param, m and v in place from gradScale[0]·grad (skipped when gradScale[0] is NaN); step counts from 1.</summary>
    public void Step(ArrayView<float> param, ArrayView<float> grad, ArrayView<float> gradScale, ArrayView<float> m, ArrayView<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, int step)
    {
        Arguments.RequireSameLength(grad.Length, param.Length, nameof(grad), nameof(param));
        Arguments.RequireSameLength(m.Length, param.Length, nameof(m), nameof(param));
        Arguments.RequireSameLength(v.Length, param.Length, nameof(v), nameof(param));
        Arguments.RequireLength(gradScale.Length, 1, nameof(gradScale), "one element");
        Arguments.RequireIndexable(param.Length, nameof(param));
        var update = AdamWUpdate.For(lr, beta1, beta2, eps, weightDecay, step);
        if (param.Length > 0) _step((int)param.Length, param, grad, gradScale, m, v, update);
    }
}
