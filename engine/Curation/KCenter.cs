using System.Numerics.Tensors;

namespace Engine.Curation;

/// <summary>
/// Greedy k-center selection (Gonzalez 1985, the "farthest point" rule of core-set selection): start from the first point, then
/// repeatedly add the unpicked point whose distance to its nearest selected point is largest (ties: the lowest index), which covers the set
/// within twice the optimal radius. O(n·k·d) time, one distance array of n.
/// </summary>
public static class KCenter
{
    /// <summary>The indices of k points in the order they were picked; k must be in 1..points.Count.</summary>
    public static int[] Select(IReadOnlyList<float[]> points, int k)
    {
        if (k < 1 || k > points.Count) throw new ArgumentException($"k-center selection of {k} points from {points.Count}: expected 1..{points.Count}");
        var nearest = new float[points.Count];
        Array.Fill(nearest, float.PositiveInfinity);
        var picked = new int[k];
        for (int p = 0; p < k; p++)
        {
            int chosen = p == 0 ? 0 : Farthest(nearest);
            picked[p] = chosen;
            var center = points[chosen];
            // nearest[i] = min(nearest[i], ‖xᵢ − c‖²): rows split across cores, each entry written by one task.
            Parallel.For(0, (points.Count + Chunk - 1) / Chunk, chunk =>
            {
                for (int i = chunk * Chunk, end = Math.Min(points.Count, i + Chunk); i < end; i++)
                {
                    float d = SquaredDistance(points[i], center);
                    if (d < nearest[i]) nearest[i] = d;
                }
            });
            nearest[chosen] = float.NegativeInfinity;
        }
        return picked;
    }

    /// <summary>The index of the largest entry (the first of equals).</summary>
    private static int Farthest(float[] nearest)
    {
        int best = 0;
        for (int i = 1; i < nearest.Length; i++)
            if (nearest[i] > nearest[best]) best = i;
        return best;
    }

    private static float SquaredDistance(float[] a, float[] b)
    {
        float d = TensorPrimitives.Distance(a, b);
        return d * d;
    }

    private const int Chunk = 1024;
}
