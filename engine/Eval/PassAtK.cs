namespace Engine.Eval;

/// <summary>pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"): the chance that at least one of k samples is correct.</summary>
public static class PassAtK
{
    // The unbiased estimator from n samples of which c are correct: 1 − C(n−c, k) / C(n, k),
    // computed as 1 − Π_{i=n−c+1..n} (1 − k/i) to avoid huge binomials.
    public static double Estimate(int n, int c, int k)
    {
        if (n < 1 || c < 0 || c > n || k < 1 || k > n) throw new ArgumentException($"pass@k needs 1 ≤ k ≤ n and 0 ≤ c ≤ n (n={n}, c={c}, k={k})");
        if (n - c < k) return 1.0;
        double allWrong = 1.0;
        for (int i = n - c + 1; i <= n; i++) allWrong *= 1.0 - (double)k / i;
        return 1.0 - allWrong;
    }
}
