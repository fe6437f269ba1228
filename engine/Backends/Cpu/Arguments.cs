namespace Engine.Backends.Cpu;

/// <summary>The size checks every CPU op makes at entry, each error naming the argument.</summary>
internal static class Arguments
{
    /// <summary>Throws unless a span holds exactly the elements its sizes imply, e.g. ("x", "n*c").</summary>
    public static void RequireLength(int actual, long expected, string name, string formula)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, expected {formula} = {expected}", name);
    }

    /// <summary>Throws unless there are n ≥ 0 rows of c ≥ 1 features.</summary>
    public static void RequireRows(int n, int c)
    {
        if (n < 0) throw new ArgumentException($"n = {n} must not be negative", nameof(n));
        if (c <= 0) throw new ArgumentException($"c = {c} must be positive", nameof(c));
    }
}
