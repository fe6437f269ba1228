using Engine.Backends;
using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests.Support;

/// <summary>A test class whose tests run the CPU ops at one forced vector width (<see cref="CpuLanes.Force"/>): an op's tests, derived
/// once per width (32 = scalar, 256, 512), cover every width on any host. Where the host lacks AVX-512 the 512-bit width runs in
/// software (Vector512 emulated, and VectorExp falls back to Vector512.Exp): slower, but the same operations, so as good a correctness test.</summary>
public abstract class AtLaneWidth : IDisposable
{
    private readonly IDisposable _scope;
    private readonly int _bits;

    /// <summary>Forces the width for this test (xUnit makes one instance per test and runs the test in the constructor's flow).</summary>
    protected AtLaneWidth(int bits)
    {
        _bits = bits;
        _scope = CpuLanes.Force((LaneWidth)bits);
    }

    [Fact]
    public void OpsRunAtTheForcedWidth() => Assert.Equal((LaneWidth)_bits, CpuLanes.Current);

    public void Dispose()
    {
        _scope.Dispose();
        GC.SuppressFinalize(this);
    }
}
