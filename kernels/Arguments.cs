namespace Engine.Kernels;

/// <summary>
/// The size checks the CPU ops and the kernel launchers make at entry (one helper for both: the same argument gets the same error on
/// either backend), each an ArgumentException naming the argument.
/// </summary>
public static class Arguments
{
    /// <summary>Throws unless an operand holds exactly the elements its sizes imply, e.g. (x.Length, n*c, "x", "n*c").</summary>
    public static void RequireLength(long actual, long expected, string name, string formula)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, expected {formula} = {expected}", name);
    }

    /// <summary>Throws unless an operand has the length of another (elementwise ops: every operand the output's length).</summary>
    public static void RequireSameLength(long actual, long expected, string name, string other)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, expected {expected} (the length of {other})", name);
    }

    /// <summary>Throws unless there are n ≥ 0 rows of c ≥ 1 features.</summary>
    public static void RequireRows(int n, int c)
    {
        if (n < 0) throw new ArgumentException($"n = {n} must not be negative", nameof(n));
        if (c <= 0) throw new ArgumentException($"c = {c} must be positive", nameof(c));
    }

    /// <summary>Throws unless a row norm's operands fit n ≥ 0 rows of c ≥ 1 features: x and y (or dy) [n, c], rstd [n], w [c].</summary>
    public static void RequireRowNorm(int n, int c, long x, long y, string yName, long rstd, long w)
    {
        RequireRows(n, c);
        RequireLength(x, (long)n * c, nameof(x), "n*c");
        RequireLength(y, (long)n * c, yName, "n*c");
        RequireLength(rstd, n, nameof(rstd), "n");
        RequireLength(w, c, nameof(w), "c");
    }

    /// <summary>Throws unless each wanted gradient of a row norm (length &gt; 0) has its operand's shape: dx [n, c], dw [c].</summary>
    public static void RequireRowNormGradients(int n, int c, long dx, long dw)
    {
        if (dx > 0) RequireLength(dx, (long)n * c, nameof(dx), "n*c");
        if (dw > 0) RequireLength(dw, c, nameof(dw), "c");
    }

    /// <summary>Auto-grouped kernels index with 32-bit ints.</summary>
    public static void RequireIndexable(long length, string name)
    {
        if (length > int.MaxValue) throw new ArgumentException($"{name} has {length} elements, more than an elementwise kernel indexes ({int.MaxValue})", name);
    }
}
