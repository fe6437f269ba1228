namespace Engine.Kernels;

/// <summary>Size checks shared by the launchers: an ArgumentException naming the argument, as the CPU ops throw.</summary>
internal static class Arguments
{
    public static void RequireShape(int n, int c)
    {
        if (n < 0) throw new ArgumentException($"n = {n} must not be negative", nameof(n));
        if (c <= 0) throw new ArgumentException($"c = {c} must be positive", nameof(c));
    }

    public static void Require(long actual, long expected, string name, string what)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, expected {what} = {expected}", name);
    }

    /// <summary>Checks an elementwise operand has the output's length.</summary>
    public static void RequireLength(long actual, long expected, string name, string other)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, expected {expected} (the length of {other})", name);
    }

    /// <summary>Auto-grouped kernels index with 32-bit ints.</summary>
    public static void RequireIndexable(long length, string name)
    {
        if (length > int.MaxValue) throw new ArgumentException($"{name} has {length} elements, more than an elementwise kernel indexes ({int.MaxValue})", name);
    }
}
