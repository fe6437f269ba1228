using Engine.Backends;

namespace Engine.Tests.Kernels;

/// <summary>One IlgpuBackend on ILGPU's CPU simulator ("ilgpu-cpu") shared by the tests of a class (xUnit class fixture).</summary>
public sealed class IlgpuCpuBackendFixture : IDisposable
{
    public IlgpuBackend Backend { get; } = IlgpuBackend.Create("ilgpu-cpu");

    public void Dispose() => Backend.Dispose();
}
