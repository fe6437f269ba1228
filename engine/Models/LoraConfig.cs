namespace Engine.Models;

/// <summary>
/// LoRA settings as PEFT's LoraConfig names them: rank r, lora_alpha, target_modules, lora_dropout, use_rslora.
/// The update is scale·B·A with scale = alpha/r, or alpha/√r with rsLoRA (Kalajdzievski 2023), which keeps large ranks learning.
/// </summary>
public sealed record LoraConfig(int Rank, float Alpha, IReadOnlyList<string> Targets, float Dropout = 0f, bool RsLora = false)
{
    /// <summary>PEFT's shorthand for every linear layer except the LM head.</summary>
    public const string AllLinear = "all-linear";

    public float Scale => RsLora ? Alpha / MathF.Sqrt(Rank) : Alpha / Rank;

    public bool IsAllLinear => Targets is [AllLinear];

    /// <summary>PEFT's rule: a target names a module when it equals the module's full name or ends it after a dot
    /// ("q_proj" matches "model.layers.0.self_attn.q_proj"); "all-linear" (alone) matches every module offered.</summary>
    public bool Matches(string module) =>
        IsAllLinear || Targets.Any(t => module == t || module.EndsWith("." + t, StringComparison.Ordinal));

    public void Validate()
    {
        if (Rank <= 0) throw new ArgumentException($"LoRA rank {Rank} must be positive");
        if (!float.IsFinite(Alpha) || Alpha <= 0) throw new ArgumentException($"LoRA alpha {Alpha} must be positive");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"LoRA dropout {Dropout} must be in [0, 1)");
        if (Targets.Count == 0 || Targets.Any(string.IsNullOrWhiteSpace)) throw new ArgumentException("LoRA needs at least one target module");
        if (Targets.Count > 1 && Targets.Contains(AllLinear)) throw new ArgumentException($"LoRA target {AllLinear} stands alone, not beside module names");
    }
}
