using System.Text.Json;
using Engine.Backends;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Models;
using Engine.Tests.Support;
using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.IO;

/// <summary>
/// A saved model directory as transformers' save_pretrained writes one: bos/eos/pad_token_id in config.json, a generation_config.json
/// (a loaded directory's own kept), GPT-2 tensors under "transformer."; load → save → load stays bit-exact.
/// </summary>
public sealed class ModelMetadataTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        _temp.Dispose();
    }

    private string Dir(string name) => Path.Combine(_temp.Path, name);

    private static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    [Fact]
    public void IdsAreWrittenToConfigAndAGenerationConfigFromTheModelConfig()
    {
        using var model = new Transformer(_backend, TinyModels.Llama(), seed: 1);
        HfCheckpoint.Save(model, Dir("out"), metadata: new ModelMetadata(new SpecialTokenIds(1, [2, 3], 0)));

        var config = Json(Path.Combine(Dir("out"), HfConfig.FileName));
        Assert.Equal(1, config.GetProperty("bos_token_id").GetInt32());
        Assert.Equal([2, 3], config.GetProperty("eos_token_id").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(0, config.GetProperty("pad_token_id").GetInt32());
        Assert.Equal(model.Config, HfConfig.Read(Path.Combine(Dir("out"), HfConfig.FileName)));
        Assert.Equal("""
            {
              "_from_model_config": true,
              "bos_token_id": 1,
              "eos_token_id": [
                2,
                3
              ],
              "pad_token_id": 0
            }

            """.ReplaceLineEndings("\n"), File.ReadAllText(Path.Combine(Dir("out"), ModelMetadata.GenerationConfigFile)));
    }

    [Fact]
    public void UnknownIdsAreLeftOut()
    {
        using var model = new Transformer(_backend, TinyModels.Gpt2(), seed: 2);
        HfCheckpoint.Save(model, Dir("out"));
        var config = Json(Path.Combine(Dir("out"), HfConfig.FileName));
        Assert.DoesNotContain(config.EnumerateObject(), p => p.Name.EndsWith("_token_id", StringComparison.Ordinal));
        Assert.Equal("{\n  \"_from_model_config\": true\n}\n", File.ReadAllText(Path.Combine(Dir("out"), ModelMetadata.GenerationConfigFile)));
        Assert.Equal(new SpecialTokenIds(4, [5], null), ModelMetadata.Of(Dir("out"), new SpecialTokenIds(4, [5], null)).Ids);
    }

    [Fact]
    public void ALoadedDirectorysIdsAndGenerationConfigAreKeptOverTheTokenizers()
    {
        using var model = new Transformer(_backend, TinyModels.Llama(), seed: 3);
        HfCheckpoint.Save(model, Dir("hub"));
        string configPath = Path.Combine(Dir("hub"), HfConfig.FileName);
        File.WriteAllText(configPath, File.ReadAllText(configPath).Replace("\"torch_dtype\"", "\"bos_token_id\": 7, \"eos_token_id\": [8, 9], \"torch_dtype\""));
        const string generation = """{"bos_token_id": 7, "do_sample": true, "eos_token_id": [8, 9], "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.42.3"}""";
        File.WriteAllText(Path.Combine(Dir("hub"), ModelMetadata.GenerationConfigFile), generation);

        var metadata = ModelMetadata.Of(Dir("hub"), new SpecialTokenIds(1, [2], 3));
        Assert.Equal(new SpecialTokenIds(7, [8, 9], 3), metadata.Ids);
        using var loaded = HfCheckpoint.Load(Dir("hub"), _backend);
        HfCheckpoint.Save(loaded, Dir("saved"), metadata: metadata);

        Assert.Equal(generation, File.ReadAllText(Path.Combine(Dir("saved"), ModelMetadata.GenerationConfigFile)));
        var saved = ModelMetadata.Of(Dir("saved"), SpecialTokenIds.None);
        Assert.Equal(new SpecialTokenIds(7, [8, 9], 3), saved.Ids);
        Assert.Equal(File.ReadAllBytes(Path.Combine(Dir("hub"), ShardedCheckpoint.SingleFileName)), File.ReadAllBytes(Path.Combine(Dir("saved"), ShardedCheckpoint.SingleFileName)));
    }

    [Fact]
    public void Gpt2WithoutThePrefixLoadsAndSavesWithItBitExact()
    {
        using var model = new Transformer(_backend, TinyModels.Gpt2() with { TiedEmbeddings = false }, seed: 4);
        HfCheckpoint.Save(model, Dir("prefixed"));
        string weights = Path.Combine(Dir("prefixed"), ShardedCheckpoint.SingleFileName);
        Directory.CreateDirectory(Dir("bare"));
        File.Copy(Path.Combine(Dir("prefixed"), HfConfig.FileName), Path.Combine(Dir("bare"), HfConfig.FileName));
        using (var file = SafeTensors.Open(weights))
            SafeTensors.Write(Path.Combine(Dir("bare"), ShardedCheckpoint.SingleFileName), file.Tensors.Values
                .Select(t => NamedTensor.Of(t.Name.Replace("transformer.", ""), t.Shape, file.ReadFloats(t.Name))).ToList());

        using var bare = HfCheckpoint.Load(Dir("bare"), _backend);
        HfCheckpoint.Save(bare, Dir("again"));
        Assert.Equal(File.ReadAllBytes(weights), File.ReadAllBytes(Path.Combine(Dir("again"), ShardedCheckpoint.SingleFileName)));
        using var again = HfCheckpoint.Load(Dir("again"), _backend);
        var want = IoFiles.Snapshot(model);
        foreach (var (name, values) in IoFiles.Snapshot(again)) IoFiles.AssertBitEqual(want[name], values, name);
    }

    [Fact]
    public void TheTokenizersIdsComeFromItsConfig()
    {
        var builtIn = new ByteChatTokenizer();
        builtIn.WriteHfFiles(Dir("tok"));
        var ids = TokenizerLoader.FromDirectory(Dir("tok")).SpecialIds();
        Assert.Equal(new SpecialTokenIds(null, [ByteChatTokenizer.ImEnd], ByteChatTokenizer.EndOfText), ids);
        Assert.Equal(builtIn.SpecialIds, ids);
    }

    [Theory]
    [InlineData(HfConfig.FileName, "\"eos_token_id\": \"</s>\"", "'eos_token_id' is \"</s>\", expected an integer or a list of integers")]
    [InlineData(ModelMetadata.GenerationConfigFile, "\"bos_token_id\": 1.5", "'bos_token_id' is 1.5, expected a 32-bit integer")]
    public void MalformedIdsNameTheFileAndTheField(string file, string field, string expected)
    {
        using var model = new Transformer(_backend, TinyModels.Llama(), seed: 5);
        HfCheckpoint.Save(model, Dir("bad"));
        string path = Path.Combine(Dir("bad"), file);
        string json = File.ReadAllText(path);
        File.WriteAllText(path, json.Insert(json.IndexOf('{') + 1, field + ","));
        var e = Assert.Throws<CheckpointFormatException>(() => ModelMetadata.Of(Dir("bad"), SpecialTokenIds.None));
        Assert.Equal($"{path}: {expected}", e.Message);
    }
}
