using System.Buffers;
using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using Engine.Tensors;
using Microsoft.Win32.SafeHandles;

namespace Engine.IO;

/// <summary>The element types of the safetensors format. Weights are read from F32, F16 and BF16; written as F32, F16 or BF16.</summary>
public enum SafeTensorsDType { Bool, U8, I8, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64, F8E4M3, F8E5M2 }

/// <summary>One tensor's header entry: Begin and End are byte offsets into the data section (after the header).</summary>
public sealed record SafeTensorInfo(string Name, SafeTensorsDType DType, int[] Shape, long Begin, long End)
{
    public long ElementCount => Tensor.ElementCount(Shape);
}

/// <summary>A tensor to write: its name, its shape, and a callback that fills a span of product(shape) floats with its values.</summary>
public sealed record NamedTensor(string Name, int[] Shape, Action<Span<float>> Fill)
{
    public static NamedTensor Of(string name, int[] shape, float[] values)
    {
        if (values.Length != Tensor.ElementCount(shape))
            throw new ArgumentException($"{name}: {values.Length} values for shape [{string.Join(", ", shape)}]", nameof(values));
        return new NamedTensor(name, shape, span => values.CopyTo(span));
    }
}

/// <summary>
/// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON header
/// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the tensors' bytes, contiguous.
/// </summary>
public static class SafeTensors
{
    /// <summary>Headers longer than this are rejected as corrupt (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private static readonly Dictionary<string, SafeTensorsDType> DTypesByName = new()
    {
        ["BOOL"] = SafeTensorsDType.Bool, ["U8"] = SafeTensorsDType.U8, ["I8"] = SafeTensorsDType.I8, ["I16"] = SafeTensorsDType.I16,
        ["U16"] = SafeTensorsDType.U16, ["F16"] = SafeTensorsDType.F16, ["BF16"] = SafeTensorsDType.BF16, ["I32"] = SafeTensorsDType.I32,
        ["U32"] = SafeTensorsDType.U32, ["F32"] = SafeTensorsDType.F32, ["I64"] = SafeTensorsDType.I64, ["U64"] = SafeTensorsDType.U64,
        ["F64"] = SafeTensorsDType.F64, ["F8_E4M3"] = SafeTensorsDType.F8E4M3, ["F8_E5M2"] = SafeTensorsDType.F8E5M2,
    };

    /// <summary>Opens a file and validates its whole header; tensors are read later, one at a time.</summary>
    public static SafeTensorsFile Open(string path) => new(path);

    public static int ElementSize(SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.Bool or SafeTensorsDType.U8 or SafeTensorsDType.I8 or SafeTensorsDType.F8E4M3 or SafeTensorsDType.F8E5M2 => 1,
        SafeTensorsDType.I16 or SafeTensorsDType.U16 or SafeTensorsDType.F16 or SafeTensorsDType.BF16 => 2,
        SafeTensorsDType.I32 or SafeTensorsDType.U32 or SafeTensorsDType.F32 => 4,
        _ => 8,
    };

    /// <summary>The dtype's name in a header ("F32", "BF16", "F8_E4M3").</summary>
    public static string Name(SafeTensorsDType dtype) => DTypesByName.First(kv => kv.Value == dtype).Key;

    internal static bool TryParseDType(string name, out SafeTensorsDType dtype) => DTypesByName.TryGetValue(name, out dtype);

    /// <summary>
    /// Writes tensors (F32, F16 or BF16; rounding to nearest even) with "__metadata__": {"format": "pt"}, in sorted name order,
    /// the header padded with spaces to a multiple of 8 bytes. Atomic: through a temporary file moved over path.
    /// </summary>
    public static void Write(string path, IReadOnlyList<NamedTensor> tensors, SafeTensorsDType dtype = SafeTensorsDType.F32)
    {
        if (dtype is not (SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16))
            throw new ArgumentException($"can write F32, F16 or BF16, not {Name(dtype)}", nameof(dtype));
        var sorted = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
        for (int i = 0; i < sorted.Length; i++)
        {
            if (sorted[i].Name == "__metadata__") throw new ArgumentException("a tensor cannot be named __metadata__", nameof(tensors));
            if (i > 0 && sorted[i].Name == sorted[i - 1].Name) throw new ArgumentException($"tensor name '{sorted[i].Name}' appears twice", nameof(tensors));
            if (Tensor.ElementCount(sorted[i].Shape) > Array.MaxLength) throw new ArgumentException($"tensor '{sorted[i].Name}' is too large", nameof(tensors));
        }

        byte[] header = Header(sorted, dtype);
        int elementSize = ElementSize(dtype);
        AtomicFile.Write(path, stream =>
        {
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);

            var values = new float[sorted.Length == 0 ? 0 : sorted.Max(t => Tensor.ElementCount(t.Shape))];
            const int chunk = 1 << 16;
            var bytes = new byte[chunk * elementSize];
            foreach (var tensor in sorted)
            {
                var span = values.AsSpan(0, (int)Tensor.ElementCount(tensor.Shape));
                tensor.Fill(span);
                for (int start = 0; start < span.Length; start += chunk)
                {
                    var part = span.Slice(start, Math.Min(chunk, span.Length - start));
                    var encoded = bytes.AsSpan(0, part.Length * elementSize);
                    switch (dtype)
                    {
                        case SafeTensorsDType.F32: FloatFormats.FloatToF32(part, encoded); break;
                        case SafeTensorsDType.F16: FloatFormats.FloatToF16(part, encoded); break;
                        default: FloatFormats.FloatToBf16(part, encoded); break;
                    }
                    stream.Write(encoded);
                }
            }
        });
    }

    /// <summary>The compact JSON header followed by spaces up to a multiple of 8 bytes, as the reference writer pads it.</summary>
    private static byte[] Header(NamedTensor[] sorted, SafeTensorsDType dtype)
    {
        var json = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            w.WriteString("format", "pt");
            w.WriteEndObject();
            long offset = 0;
            foreach (var tensor in sorted)
            {
                long bytes = Tensor.ElementCount(tensor.Shape) * ElementSize(dtype);
                w.WriteStartObject(tensor.Name);
                w.WriteString("dtype", Name(dtype));
                w.WriteStartArray("shape");
                foreach (int d in tensor.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int padded = (json.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        json.WrittenSpan.CopyTo(header);
        header.AsSpan(json.WrittenCount).Fill((byte)' ');
        return header;
    }
}

/// <summary>
/// An open safetensors file whose header has been validated: known dtypes, byte counts that match dtype × shape, and data offsets
/// that tile the data section exactly. Tensors are read on demand, one at a time, streaming in chunks (a file never needs 2× its size in memory).
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    private const int ChunkElements = 1 << 16;

    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _tensors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    internal SafeTensorsFile(string path)
    {
        Path = path;
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = RandomAccess.GetLength(_handle);
            if (fileLength < 8) throw Error($"the file is {fileLength} bytes, shorter than the 8-byte header length: truncated");
            var lengthBytes = new byte[8];
            ReadExactly(lengthBytes, 0, null);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (headerLength > SafeTensors.MaxHeaderBytes)
                throw Error($"the header length is {headerLength} bytes, over the {SafeTensors.MaxHeaderBytes / 1_000_000} MB limit: corrupt or not a safetensors file");
            if ((long)headerLength > fileLength - 8)
                throw Error($"the header length is {headerLength} bytes, beyond the end of the {fileLength}-byte file: truncated or corrupt");
            var header = new byte[headerLength];
            ReadExactly(header, 8, null);
            _dataStart = 8 + (long)headerLength;
            ParseHeader(header, fileLength - _dataStart);
        }
        catch
        {
            _handle.Dispose();
            throw;
        }
    }

    public string Path { get; }

    /// <summary>The header's "__metadata__" (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _metadata;

    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors => _tensors;

    public SafeTensorInfo Info(string name) =>
        _tensors.TryGetValue(name, out var info) ? info : throw new CheckpointFormatException($"{Path}: no tensor named '{name}'");

    /// <summary>The tensor's values converted to float32.</summary>
    public float[] ReadFloats(string name)
    {
        var info = Info(name);
        if (info.ElementCount > Array.MaxLength) throw TensorError(name, $"{info.ElementCount} elements are too many for one array");
        var values = new float[info.ElementCount];
        Read(name, values);
        return values;
    }

    /// <summary>Reads the tensor into destination (exactly its element count), converting F16 and BF16 to float32 exactly.</summary>
    public void Read(string name, Span<float> destination)
    {
        var info = Info(name);
        if (info.DType is not (SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16))
            throw TensorError(name, $"dtype {SafeTensors.Name(info.DType)} is not a float weight type: only F32, F16 and BF16 can be read");
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"destination has {destination.Length} elements, tensor '{name}' has {info.ElementCount}", nameof(destination));
        int elementSize = SafeTensors.ElementSize(info.DType);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkElements * elementSize);
        try
        {
            long offset = _dataStart + info.Begin;
            for (int start = 0; start < destination.Length; start += ChunkElements)
            {
                var part = destination.Slice(start, Math.Min(ChunkElements, destination.Length - start));
                var bytes = buffer.AsSpan(0, part.Length * elementSize);
                ReadExactly(bytes, offset, name);
                offset += bytes.Length;
                switch (info.DType)
                {
                    case SafeTensorsDType.F32: FloatFormats.F32ToFloat(bytes, part); break;
                    case SafeTensorsDType.F16: FloatFormats.F16ToFloat(bytes, part); break;
                    default: FloatFormats.Bf16ToFloat(bytes, part); break;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose() => _handle.Dispose();

    private void ParseHeader(byte[] header, long dataLength)
    {
        try
        {
            using var document = JsonDocument.Parse(header);
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw Error("the header is not a JSON object");
            bool sawMetadata = false;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (sawMetadata) throw Error("__metadata__ appears twice in the header");
                    sawMetadata = true;
                    ParseMetadata(property.Value);
                }
                else if (!_tensors.TryAdd(property.Name, ParseEntry(property.Name, property.Value, dataLength)))
                {
                    throw TensorError(property.Name, "appears twice in the header");
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw Error($"the header is not valid JSON: {e.Message}", e);
        }
        CheckContiguous(dataLength);
    }

    private void ParseMetadata(JsonElement metadata)
    {
        if (metadata.ValueKind != JsonValueKind.Object) throw Error("__metadata__ is not a JSON object");
        foreach (var entry in metadata.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String) throw Error($"__metadata__ entry '{entry.Name}' is not a string");
            _metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    private SafeTensorInfo ParseEntry(string name, JsonElement entry, long dataLength)
    {
        if (entry.ValueKind != JsonValueKind.Object) throw TensorError(name, "the header entry is not a JSON object");
        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw TensorError(name, "no dtype string");
        string dtypeName = dtypeElement.GetString()!;
        if (!SafeTensors.TryParseDType(dtypeName, out var dtype)) throw TensorError(name, $"unknown dtype '{dtypeName}'");

        if (!entry.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw TensorError(name, "no shape array");
        var shape = new int[shapeElement.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out shape[i]) || shape[i] < 0)
                throw TensorError(name, $"shape {shapeElement.GetRawText()} is not a list of non-negative 32-bit integers");
            i++;
        }

        if (!entry.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < 0)
            throw TensorError(name, "data_offsets is not a pair of non-negative integers");
        if (end < begin) throw TensorError(name, $"data_offsets [{begin}, {end}] end before they begin");
        if (end > dataLength)
            throw TensorError(name, $"data_offsets [{begin}, {end}] run past the end of the {dataLength}-byte data section: the file is truncated or the offsets are out of range");

        long expected = 1;
        foreach (int d in shape) expected = d == 0 || expected <= long.MaxValue / d ? expected * d : long.MaxValue;
        long expectedBytes = expected <= long.MaxValue / 8 ? expected * SafeTensors.ElementSize(dtype) : long.MaxValue;
        if (expectedBytes != end - begin)
            throw TensorError(name, $"dtype {dtypeName} × shape [{string.Join(", ", shape)}] needs {(expectedBytes == long.MaxValue ? "too many" : expectedBytes.ToString())} bytes, but data_offsets [{begin}, {end}] hold {end - begin}");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>The tensors' byte ranges, in order, must tile [0, dataLength) with no overlap and no gap.</summary>
    private void CheckContiguous(long dataLength)
    {
        long covered = 0;
        foreach (var t in _tensors.Values.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.Begin < covered) throw TensorError(t.Name, $"data_offsets [{t.Begin}, {t.End}] overlap another tensor's data, which ends at {covered}");
            if (t.Begin > covered) throw TensorError(t.Name, $"data_offsets [{t.Begin}, {t.End}] leave a gap of {t.Begin - covered} bytes after the previous tensor: data must be contiguous");
            covered = t.End;
        }
        if (covered != dataLength) throw Error($"the data section is {dataLength} bytes but the tensors cover only {covered}: trailing bytes after the last tensor");
    }

    private void ReadExactly(Span<byte> destination, long offset, string? tensor)
    {
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(_handle, destination, offset);
            if (read == 0) throw tensor is null ? Error("unexpected end of file: truncated") : TensorError(tensor, "unexpected end of file: truncated");
            destination = destination[read..];
            offset += read;
        }
    }

    private CheckpointFormatException Error(string message, Exception? inner = null) =>
        inner is null ? new($"{Path}: {message}") : new($"{Path}: {message}", inner);

    private CheckpointFormatException TensorError(string tensor, string message) => new($"{Path}: tensor '{tensor}': {message}");
}
