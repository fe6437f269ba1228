using Engine.Backends;
using Engine.Tensors;

namespace Engine.Models;

/// <summary>
/// The keys and values of every layer for <see cref="Rows"/> rows of up to <see cref="Capacity"/> tokens, on the model's backend:
/// per layer a K and a V tensor [rows, capacity, kvHeads, headDim]. Slot j of a row holds the token at position j of that row
/// (keys after RoPE). Which slots are filled is the caller's to track: <see cref="Transformer.Decode"/> writes the slots it is given.
/// A layer with a sliding window reads only its window's slots (the last W before a token's own); the cache still holds every slot, so slots
/// stay positions and a row's prefix can be re-read by any layer.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys, _values;

    /// <summary>A zero-filled cache for a model of this config; capacity is at most its context length (positions index the context).</summary>
    public KvCache(IBackend backend, ModelConfig config, int rows, int capacity)
    {
        if (rows <= 0) throw new ArgumentException($"rows is {rows}, expected > 0", nameof(rows));
        if (capacity <= 0 || capacity > config.ContextLength)
            throw new ArgumentException($"capacity is {capacity}, expected 1..{config.ContextLength} (the model's context length)", nameof(capacity));
        Rows = rows;
        Capacity = capacity;
        _keys = new Tensor[config.Layers];
        _values = new Tensor[config.Layers];
        for (int l = 0; l < config.Layers; l++)
        {
            _keys[l] = backend.Allocate(DType.F32, rows, capacity, config.KvHeads, config.HeadDim);
            _values[l] = backend.Allocate(DType.F32, rows, capacity, config.KvHeads, config.HeadDim);
        }
    }

    public int Rows { get; }

    public int Capacity { get; }

    /// <summary>Layer l's keys [rows, capacity, kvHeads, headDim].</summary>
    public Tensor Keys(int layer) => _keys[layer];

    /// <summary>Layer l's values [rows, capacity, kvHeads, headDim].</summary>
    public Tensor Values(int layer) => _values[layer];

    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
