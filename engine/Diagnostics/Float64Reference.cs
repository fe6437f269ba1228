namespace Engine.Diagnostics;

/// <summary>The float64 references that the self-test and the tests both check float32 results against.</summary>
public static class Float64Reference
{
    /// <summary>Below this many multiply-adds a reference runs on the calling thread (the tests call it thousands of times on tiny sizes).</summary>
    private const long ParallelWork = 1 << 20;

    /// <summary>y[r, o] = Σ_i x[r, i]·w[o, i] + bias[o] (bias null: none), each element summed in order of i; rows in parallel when large.</summary>
    public static double[] MatMul(double[] x, double[] w, double[]? bias, int n, int inDim, int outDim)
    {
        var y = new double[(long)n * outDim];
        void Row(int r)
        {
            for (int o = 0; o < outDim; o++)
            {
                double sum = bias?[o] ?? 0;
                for (int i = 0; i < inDim; i++) sum += x[(long)r * inDim + i] * w[(long)o * inDim + i];
                y[(long)r * outDim + o] = sum;
            }
        }
        if ((long)n * inDim * outDim < ParallelWork)
            for (int r = 0; r < n; r++) Row(r);
        else
            Parallel.For(0, n, Row);
        return y;
    }

    /// <summary>m [rows, cols] transposed: t[c, r] = m[r, c].</summary>
    public static T[] Transpose<T>(T[] m, int rows, int cols)
    {
        var t = new T[m.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[(long)c * rows + r] = m[(long)r * cols + c];
        return t;
    }
}
