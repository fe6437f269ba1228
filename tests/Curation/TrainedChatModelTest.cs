using Engine.Backends.Cpu;
using Engine.Generation;
using Engine.Tests.Generation;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Curation;

/// <summary>A test on the tiny chat model trained once per class (it answers "sky?" with "blue", "cat?" with "meow"), with a temp directory.</summary>
public abstract class TrainedChatModelTest(TrainedChatModel trained) : IClassFixture<TrainedChatModel>, IDisposable
{
    protected TempDirectory Temp { get; } = new();

    protected GenerationModel Load(CpuBackend backend) => GenerationModel.Load(trained.Directory.Path, backend);

    public void Dispose()
    {
        Temp.Dispose();
        GC.SuppressFinalize(this);
    }
}
