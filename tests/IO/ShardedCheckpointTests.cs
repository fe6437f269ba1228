using System.Text.Json;
using Engine.IO;
using Xunit;
using Engine.Tests.Support;

namespace Engine.Tests.IO;

public class ShardedCheckpointTests
{
    private static List<NamedTensor> Tensors() =>
        Enumerable.Range(0, 5).Select(i => NamedTensor.Of($"layer.{i}.weight", [i + 1, 4], Support.TestData.Uniform(4 * (i + 1), 10 + i))).ToList();

    [Fact]
    public void ShardsStayUnderTheLimitAndReadBackThroughTheIndex()
    {
        using var dir = new TempDirectory();
        var tensors = Tensors();
        // Sizes 16, 32, 48, 64, 80 bytes with a 64-byte limit: [16, 32] [48] [64] [80].
        ShardedCheckpoint.Write(dir.Path, tensors, maxShardBytes: 64);

        var shards = Directory.GetFiles(dir.Path, "model-*.safetensors").Select(f => Path.GetFileName(f)!).Order().ToArray();
        Assert.Equal(["model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"], shards);
        Assert.False(File.Exists(dir.File(ShardedCheckpoint.SingleFileName)));

        using (var index = JsonDocument.Parse(File.ReadAllText(dir.File(ShardedCheckpoint.IndexFileName))))
        {
            Assert.Equal(240, index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
            Assert.Equal("model-00001-of-00004.safetensors", index.RootElement.GetProperty("weight_map").GetProperty("layer.1.weight").GetString());
            Assert.Equal("model-00004-of-00004.safetensors", index.RootElement.GetProperty("weight_map").GetProperty("layer.4.weight").GetString());
        }

        using (var checkpoint = ShardedCheckpoint.Open(dir.Path))
        {
            Assert.Equal(tensors.Select(t => t.Name), checkpoint.Names);
            foreach (var t in tensors)
            {
                var expected = new float[checkpoint.Info(t.Name).ElementCount];
                t.Fill(expected);
                IoFiles.AssertBitEqual(expected, checkpoint.ReadFloats(t.Name), t.Name);
            }
            Assert.EndsWith("model-00003-of-00004.safetensors", checkpoint.FileOf("layer.3.weight"));
        }

        // Saving again as one file removes the index and the shards, so the directory holds one checkpoint.
        ShardedCheckpoint.Write(dir.Path, tensors);
        Assert.Equal([ShardedCheckpoint.SingleFileName], Directory.GetFiles(dir.Path).Select(f => Path.GetFileName(f)!));
        using (var checkpoint = ShardedCheckpoint.Open(dir.Path)) Assert.Equal(5, checkpoint.Names.Count);
    }

    [Fact]
    public void WithoutALimitOrUnderItOneFileIsWritten()
    {
        using var dir = new TempDirectory();
        ShardedCheckpoint.Write(dir.Path, Tensors(), maxShardBytes: 1 << 20);
        Assert.Equal([ShardedCheckpoint.SingleFileName], Directory.GetFiles(dir.Path).Select(f => Path.GetFileName(f)!));
    }

    [Fact]
    public void InconsistentIndexesFailNamingTheFileAndTensor()
    {
        using var dir = new TempDirectory();
        ShardedCheckpoint.Write(dir.Path, Tensors(), maxShardBytes: 64);
        string index = dir.File(ShardedCheckpoint.IndexFileName);
        string valid = File.ReadAllText(index);

        string Error(string indexText)
        {
            File.WriteAllText(index, indexText);
            return Assert.Throws<CheckpointFormatException>(() => ShardedCheckpoint.Open(dir.Path).Dispose()).Message;
        }

        string missingShard = Error(valid.Replace("model-00004-of-00004", "model-00009-of-00009"));
        Assert.Contains(index, missingShard);
        Assert.Contains("'layer.4.weight'", missingShard);
        Assert.Contains("does not exist", missingShard);

        string wrongShard = Error(valid.Replace("\"layer.4.weight\": \"model-00004-of-00004", "\"layer.4.weight\": \"model-00003-of-00004"));
        Assert.Contains("'layer.4.weight'", wrongShard);
        Assert.Contains("does not hold it", wrongShard);

        string unlisted = Error(valid.Replace("\"layer.0.weight\": \"model-00001-of-00004.safetensors\",", ""));
        Assert.Contains("'layer.0.weight'", unlisted);
        Assert.Contains("model-00001-of-00004.safetensors", unlisted);
        Assert.Contains("not mapped to this file", unlisted);

        Assert.Contains("not a file name in this directory", Error(valid.Replace("model-00004-of-00004", "../model-00004-of-00004")));
        Assert.Contains("no \"weight_map\" object", Error("{\"metadata\": {}}"));
        Assert.Contains("not valid JSON", Error("{\"weight_map\": "));

        File.Delete(index);
        Assert.Contains("neither model.safetensors nor model.safetensors.index.json",
            Assert.Throws<CheckpointFormatException>(() => ShardedCheckpoint.Open(dir.Path).Dispose()).Message);
    }
}
