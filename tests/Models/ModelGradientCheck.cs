using Engine.Autograd;
using Engine.Backends;
using Engine.Models;
using Engine.Training;

namespace Engine.Tests.Models;

/// <summary>
/// For each parameter tensor, the directional derivative by central differences of the float32 model against the tape's
/// Σ grad·direction, along the tape's own gradient scaled so its largest element moves by h (the direction of most signal:
/// a wrong gradient changes the projection). Callers scale weights ×10 so gradients are large; h = 3e-4 keeps the curvature error and
/// the float32 rounding of the loss (≈1e-6, i.e. ≈2e-3 on the quotient) each under 1%. (At h = 1e-3 Gemma 3's curvature error reached 2 %:
/// its embeddings are ×√Dim and every block output is renormalised; at 3e-4 it falls ~10× as O(h²) predicts; at 1e-4 float32 rounding of
/// the loss shows on GPT-2's smallest bias gradients.) A tensor whose gradient is exactly
/// zero by symmetry (GPT-2's k bias: softmax ignores a constant shift of every score) must show no slope along a random direction.
/// </summary>
public static class ModelGradientCheck
{
    /// <summary>One line per parameter whose gradient disagrees; the loss is taken with the same dropout seed throughout, so a dropout
    /// mask is part of the function being differentiated.</summary>
    public static List<string> Failures(Transformer model, Batch batch, IEnumerable<Variable> parameters, uint? dropoutSeed = null)
    {
        TinyModels.AllocateGradients(model);
        using (var tape = new Tape(model.Backend))
        {
            model.Forward(tape, batch, dropoutSeed);
            tape.Backward();
        }

        var rng = new Random(5);
        const float h = 3e-4f;
        var failures = new List<string>();
        foreach (var p in parameters)
        {
            var value = CpuBackend.F(p.Value);
            var grad = CpuBackend.F(p.Grad!).ToArray();
            float largest = grad.Max(MathF.Abs);
            bool zeroBySymmetry = largest < 1e-5f;
            var direction = zeroBySymmetry
                ? Enumerable.Range(0, value.Length).Select(_ => rng.Next(2) * 2f - 1f).ToArray()
                : grad.Select(g => g / largest).ToArray();
            double analytic = 0;
            for (int i = 0; i < value.Length; i++) analytic += grad[i] * direction[i];

            var saved = value.ToArray();
            for (int i = 0; i < value.Length; i++) value[i] = saved[i] + h * direction[i];
            double plus = Loss(model, batch, dropoutSeed);
            for (int i = 0; i < value.Length; i++) value[i] = saved[i] - h * direction[i];
            double minus = Loss(model, batch, dropoutSeed);
            saved.CopyTo(value);

            double numeric = (plus - minus) / (2 * h);
            bool ok = zeroBySymmetry ? Math.Abs(numeric) < 1e-3 : Math.Abs(numeric - analytic) <= 1e-2 * Math.Abs(analytic);
            if (!ok) failures.Add($"{p.Name}: tape {analytic:E4}, finite differences {numeric:E4}");
        }
        return failures;
    }

    private static double Loss(Transformer model, Batch batch, uint? dropoutSeed)
    {
        using var tape = new Tape(model.Backend, recordGradients: false);
        return model.Forward(tape, batch, dropoutSeed);
    }
}
