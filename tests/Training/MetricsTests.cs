using System.Buffers.Binary;
using System.Text.Json;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Training;

public class MetricsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "engine-metrics-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Crc32CMatchesTheStandardCheckValue()
        => Assert.Equal(0xE3069283u, TensorBoardWriter.Crc32C("123456789"u8));

    /// <summary>Reads the TFRecords back: lengths and both masked CRCs verify, and the scalar's tag and value are in the payload.</summary>
    [Fact]
    public void EventFileHoldsValidRecords()
    {
        string path;
        using (var writer = new TensorBoardWriter(_dir))
        {
            writer.Scalar("loss", 7, 2.5);
            path = writer.Path;
        }
        var bytes = File.ReadAllBytes(path);
        var payloads = new List<byte[]>();
        for (int at = 0; at < bytes.Length;)
        {
            var length = bytes.AsSpan(at, 8);
            Assert.Equal(TensorBoardWriter.MaskedCrc32C(length), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8, 4)));
            int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(length);
            var data = bytes.AsSpan(at + 12, n);
            Assert.Equal(TensorBoardWriter.MaskedCrc32C(data), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + n, 4)));
            payloads.Add(data.ToArray());
            at += 16 + n;
        }
        Assert.Equal(2, payloads.Count);
        Assert.True(payloads[0].AsSpan().EndsWith("brain.Event:2"u8));
        var scalar = payloads[1];
        Assert.True(scalar.AsSpan().IndexOf("loss"u8) >= 0);
        Assert.True(scalar.AsSpan().IndexOf(BitConverter.GetBytes(2.5f)) >= 0);
        Assert.Equal(0x10, scalar[9]);   // field 2 (step) as a varint follows the 9-byte wall_time field
        Assert.Equal(7, scalar[10]);
    }

    [Fact]
    public void MetricsLogWritesJsonLinesAndALossCurve()
    {
        using (var log = new MetricsLog(_dir))
        {
            log.Train(new StepResult(1, 3.5, 1.2, 1e-3f, 256, 200), 1000);
            log.Train(new StepResult(2, 3.0, 1.1, 1e-3f, 256, 200), 1100);
            log.Eval(2, 3.2);
            string png = log.SaveLossCurve("test");
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);
        }
        var lines = File.ReadAllLines(Path.Combine(_dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(3, lines.Length);
        Assert.Equal(3.0, lines[1].GetProperty("loss").GetDouble());
        Assert.Equal(2, lines[2].GetProperty("step").GetInt32());
        Assert.Equal(3.2, lines[2].GetProperty("eval_loss").GetDouble());
    }
}
