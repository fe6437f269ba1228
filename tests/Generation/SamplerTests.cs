using Engine.Generation;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Generation;

public class SamplerTests
{
    private static readonly double[] Known = [0.1, 0.2, 0.3, 0.4];

    private static float[] LogitsOf(double[] probabilities) => probabilities.Select(p => (float)Math.Log(p) + 3f).ToArray();

    private static float[] RandomLogits(int seed) => TestData.Uniform(37, seed, 4f);

    [Fact]
    public void TemperatureZeroIsArgmax()
    {
        for (int seed = 1; seed <= 20; seed++)
        {
            var logits = RandomLogits(seed);
            Assert.Equal(Array.IndexOf(logits, logits.Max()), Sampler.Next(logits, new SamplingOptions(), new Random(seed)));
        }
    }

    [Theory]
    [InlineData(1, 1f)]
    [InlineData(0, 1e-6f)]
    [InlineData(1, 1e-6f)]
    public void TopOneOrTinyNucleusIsArgmax(int topK, float topP)
    {
        var options = new SamplingOptions(Temperature: 1.5f, TopK: topK, TopP: topP);
        for (int seed = 1; seed <= 20; seed++)
        {
            var logits = RandomLogits(seed);
            int argmax = Array.IndexOf(logits, logits.Max());
            Assert.Equal([argmax], Sampler.Distribution(logits, options).Tokens);
            for (int draw = 0; draw < 10; draw++) Assert.Equal(argmax, Sampler.Next(logits, options, new Random(seed * 100 + draw)));
        }
    }

    [Fact]
    public void TheSameSeedDrawsTheSameTokens()
    {
        var logits = RandomLogits(3);
        var options = new SamplingOptions(Temperature: 1f, TopK: 20, TopP: 0.9f);
        int[] Draws(int seed)
        {
            var rng = new Random(seed);
            return Enumerable.Range(0, 200).Select(_ => Sampler.Next(logits, options, rng)).ToArray();
        }
        Assert.Equal(Draws(5), Draws(5));
        Assert.NotEqual(Draws(5), Draws(6));
        Assert.True(Draws(5).Distinct().Count() > 3, "a flat-ish distribution gives several different tokens");
    }

    /// <summary>Expected probabilities of tokens 0..3 of <see cref="Known"/> after temperature, top-k and top-p, worked out by hand.</summary>
    public static TheoryData<float, int, float, double[]> Cases() => new()
    {
        { 1f, 0, 1f, Known },
        { 1f, 2, 1f, [0, 0, 0.3 / 0.7, 0.4 / 0.7] },
        { 1f, 0, 0.6f, [0, 0, 0.3 / 0.7, 0.4 / 0.7] },
        { 1f, 0, 0.8f, [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9] },
        { 1f, 3, 0.5f, [0, 0, 0.3 / 0.7, 0.4 / 0.7] },
        { 2f, 0, 1f, Normalised(Known.Select(Math.Sqrt)) },
    };

    private static double[] Normalised(IEnumerable<double> weights)
    {
        var w = weights.ToArray();
        return w.Select(x => x / w.Sum()).ToArray();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DistributionIsTheTruncatedRenormalisedSoftmax(float temperature, int topK, float topP, double[] expected)
    {
        var (tokens, probabilities) = Sampler.Distribution(LogitsOf(Known), new SamplingOptions(temperature, topK, topP));
        var dense = new double[Known.Length];
        for (int i = 0; i < tokens.Length; i++) dense[tokens[i]] = probabilities[i];
        for (int t = 0; t < Known.Length; t++) Assert.True(Math.Abs(dense[t] - expected[t]) < 1e-6, $"token {t}: {dense[t]} vs {expected[t]}");
    }

    /// <summary>20,000 draws: the standard error of each frequency is at most √(0.25/20000) ≈ 0.0035, so 2% is over 5 of them.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void DrawFrequenciesMatchTheDistribution(float temperature, int topK, float topP, double[] expected)
    {
        var logits = LogitsOf(Known);
        var options = new SamplingOptions(temperature, topK, topP);
        var rng = new Random(11);
        var counts = new int[Known.Length];
        const int draws = 20_000;
        for (int i = 0; i < draws; i++) counts[Sampler.Next(logits, options, rng)]++;
        for (int t = 0; t < Known.Length; t++)
        {
            double frequency = counts[t] / (double)draws;
            Assert.True(Math.Abs(frequency - expected[t]) < 0.02, $"token {t}: drawn {frequency:F4}, expected {expected[t]:F4}");
            if (expected[t] == 0) Assert.Equal(0, counts[t]);
        }
    }

    [Theory]
    [InlineData(-1f, 0, 1f)]
    [InlineData(float.NaN, 0, 1f)]
    [InlineData(1f, -1, 1f)]
    [InlineData(1f, 0, 0f)]
    [InlineData(1f, 0, 1.5f)]
    public void InvalidOptionsAreRejected(float temperature, int topK, float topP)
        => Assert.Throws<ArgumentException>(() => new SamplingOptions(temperature, topK, topP).Validate());
}
