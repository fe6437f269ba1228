using Engine.Backends;
using Engine.Tests.Support;

namespace Engine.Tests.Ops;

/// <summary>Random inputs of one LoRA layer: x [n, in], W [out, in], bias [out], A [rank, in], B [out, rank], dy [n, out], scale 2/√rank;
/// shared by the CPU op's tests and the kernels' tests.</summary>
public sealed record LoraCase(
    int N, int InDim, int OutDim, int Rank, float Scale, float[] X, float[] W, float[] Bias, float[] A, float[] B, float[] Dy)
{
    /// <summary>The gradients' names, in the order of <see cref="ZeroGradients"/> and of the backward's arguments.</summary>
    public static readonly string[] GradientNames = ["dx", "dw", "dbias", "dA", "dB"];

    public static LoraCase Random(int n, int inDim, int outDim, int rank, int seed) => new(n, inDim, outDim, rank, 2f / MathF.Sqrt(rank),
        TestData.Uniform(n * inDim, seed), TestData.Uniform(outDim * inDim, seed + 1), TestData.Uniform(outDim, seed + 2),
        TestData.Uniform(rank * inDim, seed + 3), TestData.Uniform(outDim * rank, seed + 4), TestData.Uniform(n * outDim, seed + 5));

    public double[] X64 => TestData.ToDouble(X);
    public double[] W64 => TestData.ToDouble(W);
    public double[] Bias64 => TestData.ToDouble(Bias);
    public double[] A64 => TestData.ToDouble(A);
    public double[] B64 => TestData.ToDouble(B);
    public double[] Dy64 => TestData.ToDouble(Dy);

    /// <summary>Zeroed gradient buffers: dx [n, in], dw [out, in], dbias [out], dA [rank, in], dB [out, rank].</summary>
    public float[][] ZeroGradients() =>
        [new float[N * InDim], new float[OutDim * InDim], new float[OutDim], new float[Rank * InDim], new float[OutDim * Rank]];

    /// <summary>Random starting gradients (seeds seed … seed + 4), shaped and ordered as <see cref="ZeroGradients"/>.</summary>
    public float[][] RandomGradients(int seed) => [.. ZeroGradients().Select((g, i) => TestData.Uniform(g.Length, seed + i))];

    /// <summary>h = x·Aᵀ, as the CPU forward writes it (float32).</summary>
    public float[] H()
    {
        var h = new float[N * Rank];
        CpuLora.Forward(new float[N * OutDim], h, X, W, default, A, B, Scale, N, InDim, OutDim, Rank);
        return h;
    }
}
