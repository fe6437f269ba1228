using System.Text.Json;
using Engine.Tensors;

namespace Engine.IO;

/// <summary>
/// The tensors of a Hugging Face checkpoint directory: one model.safetensors, or shards listed by model.safetensors.index.json
/// ({"metadata": {"total_size": bytes}, "weight_map": {tensor: shard file}}). Every shard's header is validated on open.
/// </summary>
public sealed class ShardedCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files = new();
    private readonly SortedDictionary<string, SafeTensorsFile> _fileOf = new(StringComparer.Ordinal);

    private ShardedCheckpoint(string directory)
    {
        Directory = directory;
        try
        {
            string index = Path.Combine(directory, IndexFileName);
            string single = Path.Combine(directory, SingleFileName);
            if (File.Exists(index)) OpenShards(index);
            else if (File.Exists(single)) OpenSingle(single);
            else throw new CheckpointFormatException($"{directory}: neither {SingleFileName} nor {IndexFileName} is there");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Directory { get; }

    /// <summary>Every tensor name, in ordinal order.</summary>
    public IReadOnlyCollection<string> Names => _fileOf.Keys;

    public bool Contains(string name) => _fileOf.ContainsKey(name);

    public SafeTensorInfo Info(string name) => Holder(name).Info(name);

    /// <summary>The path of the file that holds the tensor.</summary>
    public string FileOf(string name) => Holder(name).Path;

    public float[] ReadFloats(string name) => Holder(name).ReadFloats(name);

    public void Read(string name, Span<float> destination) => Holder(name).Read(name, destination);

    public static ShardedCheckpoint Open(string directory) => new(directory);

    /// <summary>
    /// Writes model.safetensors, or, when maxShardBytes is given and the tensors exceed it, shards model-0000i-of-0000n.safetensors
    /// (tensors in sorted name order, a new shard whenever the next tensor would overflow the current one; a larger tensor gets a shard of its own)
    /// and model.safetensors.index.json. Removes the files of an earlier save in the other layout, so the directory holds one checkpoint.
    /// </summary>
    public static void Write(string directory, IReadOnlyList<NamedTensor> tensors, SafeTensorsDType dtype = SafeTensorsDType.F32, long? maxShardBytes = null)
    {
        if (maxShardBytes is <= 0) throw new ArgumentException($"maxShardBytes is {maxShardBytes}, expected > 0", nameof(maxShardBytes));
        var duplicate = tensors.GroupBy(t => t.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"tensor name '{duplicate.Key}' appears twice", nameof(tensors));
        System.IO.Directory.CreateDirectory(directory);
        long Bytes(NamedTensor t) => Tensor.ElementCount(t.Shape) * SafeTensors.ElementSize(dtype);

        var shards = new List<List<NamedTensor>> { new() };
        long shardBytes = 0;
        foreach (var tensor in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            if (maxShardBytes is { } max && shardBytes + Bytes(tensor) > max && shards[^1].Count > 0)
            {
                shards.Add(new List<NamedTensor>());
                shardBytes = 0;
            }
            shards[^1].Add(tensor);
            shardBytes += Bytes(tensor);
        }

        if (shards.Count == 1)
        {
            SafeTensors.Write(Path.Combine(directory, SingleFileName), tensors, dtype);
            DeleteIfExists(Path.Combine(directory, IndexFileName));
            RemoveStaleShards(directory, keep: []);
            return;
        }

        var names = shards.Select((_, i) => $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors").ToArray();
        for (int i = 0; i < shards.Count; i++) SafeTensors.Write(Path.Combine(directory, names[i]), shards[i], dtype);
        AtomicFile.Write(Path.Combine(directory, IndexFileName), stream =>
        {
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteStartObject("metadata");
            w.WriteNumber("total_size", tensors.Sum(Bytes));
            w.WriteEndObject();
            w.WriteStartObject("weight_map");
            for (int i = 0; i < shards.Count; i++)
                foreach (var tensor in shards[i]) w.WriteString(tensor.Name, names[i]);
            w.WriteEndObject();
            w.WriteEndObject();
        });
        DeleteIfExists(Path.Combine(directory, SingleFileName));
        RemoveStaleShards(directory, keep: names);
    }

    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
    }

    private SafeTensorsFile Holder(string name) =>
        _fileOf.TryGetValue(name, out var file) ? file : throw new CheckpointFormatException($"{Directory}: the checkpoint has no tensor '{name}'");

    private void OpenSingle(string path)
    {
        var file = SafeTensors.Open(path);
        _files.Add(file);
        foreach (var name in file.Tensors.Keys) _fileOf[name] = file;
    }

    private void OpenShards(string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        var shards = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        foreach (var (tensor, shardName) in weightMap)
        {
            if (!shards.TryGetValue(shardName, out var shard))
            {
                string shardPath = Path.Combine(Directory, shardName);
                if (!File.Exists(shardPath))
                    throw new CheckpointFormatException($"{indexPath}: tensor '{tensor}' is mapped to {shardName}, which does not exist");
                shard = SafeTensors.Open(shardPath);
                _files.Add(shard);
                shards[shardName] = shard;
            }
            if (!shard.Tensors.ContainsKey(tensor))
                throw new CheckpointFormatException($"{indexPath}: tensor '{tensor}' is mapped to {shard.Path}, which does not hold it");
            _fileOf[tensor] = shard;
        }
        foreach (var (shardName, shard) in shards)
            foreach (var tensor in shard.Tensors.Keys)
                if (!weightMap.TryGetValue(tensor, out var mapped) || mapped != shardName)
                    throw new CheckpointFormatException($"{shard.Path}: tensor '{tensor}' is not mapped to this file by {indexPath}");
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var weightMap) || weightMap.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException($"{indexPath}: no \"weight_map\" object");
            foreach (var entry in weightMap.EnumerateObject())
            {
                string? shard = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString() : null;
                if (string.IsNullOrEmpty(shard) || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw new CheckpointFormatException($"{indexPath}: tensor '{entry.Name}' is mapped to {entry.Value.GetRawText()}, not a file name in this directory");
                if (!map.TryAdd(entry.Name, shard)) throw new CheckpointFormatException($"{indexPath}: tensor '{entry.Name}' appears twice in weight_map");
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new CheckpointFormatException($"{indexPath}: not valid JSON: {e.Message}", e);
        }
        return map;
    }

    private static void RemoveStaleShards(string directory, string[] keep)
    {
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, "model-?????-of-?????.safetensors"))
            if (!keep.Contains(Path.GetFileName(path))) File.Delete(path);
    }

    private static void DeleteIfExists(string path)
    {
        if (File.Exists(path)) File.Delete(path);
    }
}
