using System.CommandLine;
using Engine.Models;

namespace Engine.Cli;

/// <summary>The LoRA options of engine sft (PEFT's LoraConfig by another name): off unless --lora is given.</summary>
internal sealed class LoraCliOptions
{
    private readonly Option<bool> _enabled = new("--lora") { Description = "train LoRA adapters instead of every weight (the base model frozen)" };
    private readonly Option<int> _rank = new("--lora-r") { Description = "LoRA rank r", DefaultValueFactory = _ => 8 };
    private readonly Option<float> _alpha = new("--lora-alpha") { Description = "LoRA alpha: the update is scaled by alpha/r (alpha/√r with --rslora)", DefaultValueFactory = _ => 16f };
    private readonly Option<float> _dropout = new("--lora-dropout") { Description = "dropout on each adapter's input while training", DefaultValueFactory = _ => 0f };
    private readonly Option<string> _targets = new("--lora-targets")
    {
        Description = "comma-separated module names (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj; " +
                      "Phi-3: qkv_proj,o_proj,gate_up_proj,down_proj; GPT-2: c_attn,c_proj,c_fc) or all-linear",
        DefaultValueFactory = _ => LoraConfig.AllLinear,
    };
    private readonly Option<bool> _rsLora = new("--rslora") { Description = "rank-stabilised scaling alpha/√r (Kalajdzievski 2023)" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _enabled, _rank, _alpha, _dropout, _targets, _rsLora }) command.Options.Add(option);
    }

    /// <summary>The config when --lora is given, else null; LoRA options without --lora are an error, not a silent full fine-tune.</summary>
    public LoraConfig? Read(ParseResult r)
    {
        if (!r.GetValue(_enabled))
        {
            var given = new Option[] { _rank, _alpha, _dropout, _targets, _rsLora }.Where(o => r.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
            if (given.Count > 0) throw new ArgumentException($"{string.Join(", ", given)} configure LoRA: add --lora");
            return null;
        }
        return new LoraConfig(r.GetValue(_rank), r.GetValue(_alpha),
            r.GetValue(_targets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), r.GetValue(_dropout), r.GetValue(_rsLora));
    }
}
