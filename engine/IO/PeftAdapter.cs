using System.Text.Json;
using Engine.Models;

namespace Engine.IO;

/// <summary>
/// LoRA adapters in PEFT's format, a directory with adapter_config.json (peft_type LORA, r, lora_alpha, target_modules, lora_dropout,
/// use_rslora, task_type CAUSAL_LM, ...) and adapter_model.safetensors, whose keys are base_model.model.{module}.lora_A.weight [r, in] and
/// .lora_B.weight [out, r]. What PEFT can express and the engine cannot (DoRA, per-layer ranks, trained biases, extra saved modules) is
/// refused by name rather than loaded wrong.
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFile = "adapter_config.json", WeightsFile = "adapter_model.safetensors";
    private const string KeyPrefix = "base_model.model.";

    /// <summary>Whether a directory holds an adapter rather than a whole model.</summary>
    public static bool IsAdapter(string directory) => File.Exists(Path.Combine(directory, ConfigFile));

    /// <summary>Writes the model's adapters (F32) and their config; baseModel is recorded as base_model_name_or_path.</summary>
    public static void Save(Transformer model, string directory, string? baseModel)
    {
        var lora = model.Lora ?? throw new InvalidOperationException("the model has no LoRA adapters to save");
        Directory.CreateDirectory(directory);
        var tensors = model.Adapters.SelectMany(a => a.Parameters).Select(p =>
        {
            var values = new float[p.Value.Length];
            model.Backend.Download(p.Value, values);
            return NamedTensor.Of(KeyPrefix + p.Name, p.Value.Shape, values);
        }).ToList();
        SafeTensors.Write(Path.Combine(directory, WeightsFile), tensors);
        string temp = Path.Combine(directory, ConfigFile + ".tmp");
        // PEFT expands all-linear only as a bare string, and writes the names it matched: so does the engine.
        var targets = lora.IsAllLinear ? model.Adapters.Select(a => a.Module[(a.Module.LastIndexOf('.') + 1)..]).Distinct().ToList() : lora.Targets;
        File.WriteAllText(temp, ConfigJson(lora with { Targets = targets }, model.Config.Family, baseModel));
        File.Move(temp, Path.Combine(directory, ConfigFile), overwrite: true);
    }

    /// <summary>adapter_config.json as PEFT writes it for a causal LM.</summary>
    public static string ConfigJson(LoraConfig lora, ModelFamily family, string? baseModel)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("peft_type", "LORA");
            w.WriteString("task_type", "CAUSAL_LM");
            w.WriteString("base_model_name_or_path", baseModel);
            w.WriteNumber("r", lora.Rank);
            JsonFields.WriteFloat(w, "lora_alpha", JsonFields.Widen(lora.Alpha));
            JsonFields.WriteFloat(w, "lora_dropout", JsonFields.Widen(lora.Dropout));
            w.WriteStartArray("target_modules");
            foreach (var t in lora.Targets) w.WriteStringValue(t);
            w.WriteEndArray();
            w.WriteBoolean("use_rslora", lora.RsLora);
            w.WriteBoolean("use_dora", false);
            w.WriteString("bias", "none");
            w.WriteBoolean("fan_in_fan_out", family == ModelFamily.Gpt2); // GPT-2's Conv1D stores its weights [in, out]
            w.WriteBoolean("inference_mode", true);
            w.WriteBoolean("init_lora_weights", true);
            w.WriteNull("modules_to_save");
            w.WriteNull("layers_to_transform");
            w.WriteStartObject("rank_pattern");
            w.WriteEndObject();
            w.WriteStartObject("alpha_pattern");
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The LoRA settings of an adapter directory's adapter_config.json.</summary>
    public static LoraConfig ReadConfig(string directory)
    {
        string path = Path.Combine(directory, ConfigFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{directory} is not a PEFT adapter: no {ConfigFile}", path);
        return JsonFields.Parse(File.ReadAllText(path), path, f =>
        {
            string? type = f.String("peft_type");
            if (type != "LORA") throw f.Error($"peft_type is {type ?? "missing"}; only LORA adapters are supported");
            if (f.Bool("use_dora") == true) throw f.Error("DoRA adapters (use_dora) are not supported");
            if (!f.IsEmpty("rank_pattern") || !f.IsEmpty("alpha_pattern")) throw f.Error("per-module ranks or alphas (rank_pattern, alpha_pattern) are not supported");
            if (f.String("bias") is { } bias && bias != "none") throw f.Error($"bias '{bias}' is not supported: adapters train no biases (\"none\")");
            if (!f.IsEmpty("modules_to_save")) throw f.Error("modules_to_save is not supported: the adapter must hold LoRA weights only");
            if (!f.IsEmpty("layers_to_transform")) throw f.Error("layers_to_transform is not supported");
            if (f.Kind("init_lora_weights") == JsonValueKind.String && f.String("init_lora_weights") is { } init && init != "gaussian")
                throw f.Error($"init_lora_weights '{init}' changes the base weights when PEFT loads the adapter; convert it to a plain LoRA adapter first");
            var targets = f.Strings("target_modules") ?? throw f.Error("no target_modules");
            if (f.Kind("target_modules") == JsonValueKind.String && targets[0] != LoraConfig.AllLinear)
                throw f.Error($"target_modules '{targets[0]}' is a regular expression; list the module names instead");
            var config = new LoraConfig(f.RequiredInt("r"), (float)f.RequiredDouble("lora_alpha"), targets,
                (float)(f.Double("lora_dropout") ?? 0), f.Bool("use_rslora") ?? false);
            try
            {
                config.Validate();
            }
            catch (ArgumentException e)
            {
                throw f.Error(e.Message);
            }
            return config;
        });
    }

    /// <summary>The base model the adapter was trained on, when its config names an existing directory.</summary>
    public static string? BaseModelDirectory(string directory)
    {
        string path = Path.Combine(directory, ConfigFile);
        string? name = JsonFields.Parse(File.ReadAllText(path), path, f => f.String("base_model_name_or_path"));
        return name is not null && Directory.Exists(name) ? name : null;
    }

    /// <summary>
    /// Attaches the adapter of a directory to the model: adapters on the modules its config targets, loaded from its weights. Every
    /// expected tensor must be there with its shape and nothing else may be; errors name the file and the tensor.
    /// </summary>
    public static void Load(Transformer model, string directory)
    {
        var config = ReadConfig(directory);
        string path = Path.Combine(directory, WeightsFile);
        using var file = SafeTensors.Open(path);
        try
        {
            model.AddLora(config, seed: 0);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointFormatException($"{Path.Combine(directory, ConfigFile)}: {e.Message}", e);
        }
        var expected = model.Adapters.SelectMany(a => a.Parameters).ToDictionary(p => KeyPrefix + p.Name);
        // PEFT saves without the adapter's name; a state dict saved from a live PeftModel has it (".lora_A.default.weight").
        var keys = file.Tensors.Keys.ToDictionary(k => k.Replace(".default.weight", ".weight", StringComparison.Ordinal));
        var unexpected = keys.Keys.Where(k => !expected.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (unexpected.Count > 0)
            throw new CheckpointFormatException($"{path}: tensors that no targeted module of this {model.Config.Family} model has: " +
                                                $"{string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? $", … ({unexpected.Count - 5} more)" : "")}");
        foreach (var (key, parameter) in expected)
        {
            if (!keys.TryGetValue(key, out string? stored)) throw new CheckpointFormatException($"{path}: no tensor {key}");
            var info = file.Tensors[stored];
            if (!info.Shape.SequenceEqual(parameter.Value.Shape))
                throw new CheckpointFormatException($"{path}: {stored} is [{string.Join(", ", info.Shape)}], the model needs [{string.Join(", ", parameter.Value.Shape)}]");
            model.Backend.Upload(parameter.Value, file.ReadFloats(stored));
        }
    }
}
