using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The kernel test classes run one after another: each CPU accelerator runs a thread per simulated GPU thread (256 here),
/// and several at once only compete for this machine's cores.</summary>
[CollectionDefinition(Name)]
public sealed class CpuAcceleratorCollection
{
    public const string Name = "CPU accelerator";
}
