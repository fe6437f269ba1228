using Engine.Backends;
using Engine.Generation;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Curation;

/// <summary>A test on the tiny chat model trained once per class (it answers "sky?" with "blue", "cat?" with "meow"), with a temp directory.</summary>
public abstract class TrainedChatModelTest(TrainedChatModel trained) : IClassFixture<TrainedChatModel>, IDisposable
{
    private readonly CpuBackend _backend = new();

    protected TempDirectory Temp { get; } = new();

    /// <summary>The trained model, loaded anew (the caller disposes it) on the CPU backend this test disposes.</summary>
    protected GenerationModel Load() => GenerationModel.Load(trained.Directory, _backend);

    public void Dispose()
    {
        Temp.Dispose();
        _backend.Dispose();
        GC.SuppressFinalize(this);
    }
}
