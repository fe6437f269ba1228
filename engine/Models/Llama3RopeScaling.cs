namespace Engine.Models;

/// <summary>
/// Llama 3.1's frequency-dependent RoPE scaling (Hugging Face rope_scaling {"rope_type": "llama3", ...}): wavelengths shorter than
/// original/highFreqFactor keep their frequency, those longer than original/lowFreqFactor are divided by factor, and the band between
/// interpolates smoothly.
/// </summary>
public sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalContextLength)
{
    /// <summary>
    /// The scaled table, computed exactly as transformers' _compute_llama3_parameters does on float32 tensors: every step one float32
    /// operation, Python scalars rounded to float32, and "c / t" on a tensor evaluated as PyTorch does, reciprocal(t) · c.
    /// </summary>
    public float[] Scale(ReadOnlySpan<float> invFreq)
    {
        Validate();
        float factor = (float)Factor, lowFreqFactor = (float)LowFreqFactor, original = OriginalContextLength;
        float lowFreqWavelen = (float)(OriginalContextLength / LowFreqFactor);
        float highFreqWavelen = (float)(OriginalContextLength / HighFreqFactor);
        float band = (float)(HighFreqFactor - LowFreqFactor);
        float twoPi = (float)(2 * Math.PI);
        var scaled = new float[invFreq.Length];
        for (int i = 0; i < invFreq.Length; i++)
        {
            float wavelen = 1f / invFreq[i] * twoPi;
            float inv = wavelen > lowFreqWavelen ? invFreq[i] / factor : invFreq[i];
            bool medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            if (medium)
            {
                float smooth = (1f / wavelen * original - lowFreqFactor) / band;
                inv = (1f - smooth) * inv / factor + smooth * inv;
            }
            scaled[i] = inv;
        }
        return scaled;
    }

    /// <summary>Throws, naming the field, when a value would make the scaling meaningless (a zero band divides by zero).</summary>
    public void Validate()
    {
        if (!(Factor > 0)) throw new ArgumentException($"rope scaling factor is {Factor}, expected > 0");
        if (!(LowFreqFactor > 0)) throw new ArgumentException($"rope scaling low_freq_factor is {LowFreqFactor}, expected > 0");
        if (!(HighFreqFactor > LowFreqFactor))
            throw new ArgumentException($"rope scaling high_freq_factor ({HighFreqFactor}) must exceed low_freq_factor ({LowFreqFactor})");
        if (OriginalContextLength <= 0)
            throw new ArgumentException($"rope scaling original_max_position_embeddings is {OriginalContextLength}, expected > 0");
    }
}
