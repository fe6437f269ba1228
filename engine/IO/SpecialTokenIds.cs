namespace Engine.IO;

/// <summary>
/// The special-token ids a saved model directory records as bos_token_id, eos_token_id and pad_token_id in config.json and
/// generation_config.json; Eos may hold several ids (Llama-3.1 stops on any of three), and is empty when unknown.
/// </summary>
public sealed record SpecialTokenIds(int? Bos, IReadOnlyList<int> Eos, int? Pad)
{
    public static SpecialTokenIds None { get; } = new(null, [], null);

    /// <summary>Equal when the ids are, Eos element by element.</summary>
    public bool Equals(SpecialTokenIds? other) => other is not null && Bos == other.Bos && Pad == other.Pad && Eos.SequenceEqual(other.Eos);

    public override int GetHashCode() => HashCode.Combine(Bos, Pad, Eos.Count > 0 ? Eos[0] : -1);

    /// <summary>Each id this knows, else other's.</summary>
    public SpecialTokenIds Or(SpecialTokenIds other) => new(Bos ?? other.Bos, Eos.Count > 0 ? Eos : other.Eos, Pad ?? other.Pad);

    /// <summary>Writes the known ids as bos_token_id, eos_token_id (a number, or a list when there are several) and pad_token_id.</summary>
    internal void Write(System.Text.Json.Utf8JsonWriter w)
    {
        if (Bos is { } bos) w.WriteNumber("bos_token_id", bos);
        if (Eos.Count == 1) w.WriteNumber("eos_token_id", Eos[0]);
        else if (Eos.Count > 1)
        {
            w.WriteStartArray("eos_token_id");
            foreach (int id in Eos) w.WriteNumberValue(id);
            w.WriteEndArray();
        }
        if (Pad is { } pad) w.WriteNumber("pad_token_id", pad);
    }

    /// <summary>The ids of a config.json or generation_config.json object.</summary>
    internal static SpecialTokenIds Read(JsonFields f) => new(f.Int("bos_token_id"), f.Ints("eos_token_id") ?? [], f.Int("pad_token_id"));
}
