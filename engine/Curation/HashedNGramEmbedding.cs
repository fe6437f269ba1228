namespace Engine.Curation;

/// <summary>
/// A text's embedding without a model: word 1- and 2-grams and character 3-grams of the lower-cased text hashed into Dimensions buckets
/// with a hashed sign (the hashing trick, Weinberger et al. 2009), then scaled to unit length, so the squared distance of two
/// embeddings is 2 − 2·cosine of their n-gram count vectors.
/// </summary>
public sealed class HashedNGramEmbedding(int dimensions = 256)
{
    public int Dimensions { get; } = dimensions > 0 ? dimensions : throw new ArgumentException($"embedding dimensions is {dimensions}, expected > 0");

    public float[] Embed(string text)
    {
        var vector = new float[Dimensions];
        var words = TextFeatures.Words(text);
        for (int i = 0; i < words.Length; i++)
        {
            Add(vector, words[i].Hash);
            if (i + 1 < words.Length) Add(vector, TextFeatures.Mix(words[i].Hash) ^ words[i + 1].Hash);
        }
        string lower = text.ToLowerInvariant();
        for (int i = 0; i + 3 <= lower.Length; i++)
            Add(vector, TextFeatures.Mix(TextFeatures.Mix(TextFeatures.Mix(0xC3 ^ (ulong)lower[i]) ^ lower[i + 1]) ^ lower[i + 2]));
        return Embeddings.Normalized(vector);
    }

    private void Add(float[] vector, ulong feature)
    {
        ulong h = TextFeatures.Mix(feature);
        vector[(int)(h % (ulong)Dimensions)] += (h >> 63) == 0 ? 1 : -1;
    }
}

/// <summary>Helpers on embedding vectors.</summary>
public static class Embeddings
{
    /// <summary>The vector scaled to unit Euclidean length (a zero vector stays zero).</summary>
    public static float[] Normalized(float[] vector)
    {
        float norm = System.Numerics.Tensors.TensorPrimitives.Norm(vector);
        if (norm > 0) System.Numerics.Tensors.TensorPrimitives.Divide(vector, norm, vector);
        return vector;
    }
}
