using System.Text.Json;

namespace Engine.IO;

/// <summary>
/// What a saved model directory records beyond its architecture and weights: the special-token ids of config.json, and
/// generation_config.json: the loaded directory's own text kept when it had one, else written from the ids.
/// </summary>
public sealed record ModelMetadata(SpecialTokenIds Ids, string? GenerationConfigJson = null)
{
    public const string GenerationConfigFile = "generation_config.json";

    public static ModelMetadata None { get; } = new(SpecialTokenIds.None);

    /// <summary>A model directory's metadata: config.json's ids, those it lacks taken from fallback (the tokenizer's), and its
    /// generation_config.json when it has one (which must be a JSON object whose ids are integers).</summary>
    public static ModelMetadata Of(string directory, SpecialTokenIds fallback)
    {
        string configPath = Path.Combine(directory, HfConfig.FileName);
        if (!File.Exists(configPath)) throw new CheckpointFormatException($"{configPath}: not found");
        var ids = JsonFields.Parse(File.ReadAllText(configPath), configPath, SpecialTokenIds.Read).Or(fallback);
        string generationPath = Path.Combine(directory, GenerationConfigFile);
        if (!File.Exists(generationPath)) return new ModelMetadata(ids);
        string generation = File.ReadAllText(generationPath);
        JsonFields.Parse(generation, generationPath, SpecialTokenIds.Read);
        return new ModelMetadata(ids, generation);
    }

    /// <summary>
    /// The generation_config.json to write: the kept text, else what transformers' save_pretrained writes for a generation config made
    /// from the model config: "_from_model_config": true and the known ids, keys sorted (no transformers_version: this is not transformers).
    /// </summary>
    public string GenerationConfig()
    {
        if (GenerationConfigJson is not null) return GenerationConfigJson;
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteBoolean("_from_model_config", true);
            Ids.Write(w);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
