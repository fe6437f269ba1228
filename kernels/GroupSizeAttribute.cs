namespace Engine.Kernels;

/// <summary>
/// The most threads per group an explicitly grouped kernel is launched with (its launcher may use fewer, e.g. for a short row).
/// The static kernel audit (bench/gpu/ptxas-audit.sh) reads it to compute the kernel's occupancy from its registers and shared memory.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class GroupSizeAttribute(int maxThreads) : Attribute
{
    public int MaxThreads { get; } = maxThreads;
}
