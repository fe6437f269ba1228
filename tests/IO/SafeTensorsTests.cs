using System.Buffers.Binary;
using System.Text;
using Engine.IO;
using Xunit;
using Engine.Tests.Support;

namespace Engine.Tests.IO;

public class SafeTensorsTests
{
    /// <summary>Values that exercise every rounding case: exact, ties, near-overflow, subnormal, signed zero, infinities, NaN.</summary>
    private static readonly float[] Special =
    [
        0f, -0f, 1f, -2.5f, 1e-3f, 3.14159265f, 65504f, 70000f, 1e-8f, 1e-40f, float.PositiveInfinity, float.NegativeInfinity,
        BitConverter.UInt32BitsToSingle(0x3F808000), // 1 + 2^-8: a tie in bfloat16, rounds down to even 1.0
        BitConverter.UInt32BitsToSingle(0x3F818000), // a tie that rounds up to even
        BitConverter.UInt32BitsToSingle(0x3F808001), // just above a tie: rounds up
        3.4e38f, // rounds to +inf in bfloat16
    ];

    private static List<NamedTensor> Sample() =>
    [
        NamedTensor.Of("b.weight", [2, 3, 4], TestData(24, 1)),
        NamedTensor.Of("a.bias", [3], TestData(3, 2)),
        NamedTensor.Of("special", [Special.Length], Special),
        NamedTensor.Of("empty", [0, 5], []),
        NamedTensor.Of("scalar", [], [42f]),
    ];

    private static float[] TestData(int n, int seed) => Support.TestData.Uniform(n, seed, 3f);

    [Fact]
    public void F32RoundTripIsBitExactWithHeaderAsTheReferenceWritesIt()
    {
        using var dir = new TempDirectory();
        string path = dir.File("model.safetensors");
        var tensors = Sample();
        SafeTensors.Write(path, tensors);

        byte[] bytes = File.ReadAllBytes(path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0ul, headerLength % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)headerLength);
        Assert.StartsWith("{\"__metadata__\":{\"format\":\"pt\"},\"a.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},\"b.weight\":", header);
        string json = header.TrimEnd(' ');
        Assert.True(json.EndsWith('}') && header.Length - json.Length < 8, $"header not padded with fewer than 8 spaces: '{header}'");
        Assert.Equal([path], Directory.GetFiles(dir.Path));

        using var file = SafeTensors.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(tensors.Select(t => t.Name).Order(StringComparer.Ordinal), file.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var t in tensors)
        {
            Assert.Equal(t.Shape, file.Info(t.Name).Shape);
            Assert.Equal(SafeTensorsDType.F32, file.Info(t.Name).DType);
            var expected = new float[file.Info(t.Name).ElementCount];
            t.Fill(expected);
            IoFiles.AssertBitEqual(expected, file.ReadFloats(t.Name), t.Name);
        }
    }

    [Fact]
    public void Bf16RoundsToNearestEvenAndReadsBackExactly()
    {
        using var dir = new TempDirectory();
        string path = dir.File("bf16.safetensors");
        SafeTensors.Write(path, Sample(), SafeTensorsDType.BF16);
        using var file = SafeTensors.Open(path);
        Assert.Equal(SafeTensorsDType.BF16, file.Info("special").DType);
        var expected = Special.Select(IoFiles.RoundToBf16).ToArray();
        Assert.Equal(1f, expected[12]);
        Assert.Equal(BitConverter.UInt32BitsToSingle(0x3F820000), expected[13]);
        Assert.Equal(BitConverter.UInt32BitsToSingle(0x3F810000), expected[14]);
        Assert.Equal(float.PositiveInfinity, expected[15]);
        IoFiles.AssertBitEqual(expected, file.ReadFloats("special"), "special");
        IoFiles.AssertBitEqual(TestData(24, 1).Select(IoFiles.RoundToBf16).ToArray(), file.ReadFloats("b.weight"), "b.weight");

        SafeTensors.Write(path, [NamedTensor.Of("nan", [1], [float.NaN])], SafeTensorsDType.BF16);
        using var nan = SafeTensors.Open(path);
        Assert.True(float.IsNaN(nan.ReadFloats("nan")[0]));
    }

    [Fact]
    public void F16RoundTripMatchesHalfConversion()
    {
        using var dir = new TempDirectory();
        string path = dir.File("f16.safetensors");
        SafeTensors.Write(path, Sample(), SafeTensorsDType.F16);
        using var file = SafeTensors.Open(path);
        Assert.Equal(SafeTensorsDType.F16, file.Info("special").DType);
        var expected = Special.Select(x => (float)(Half)x).ToArray();
        Assert.Equal(float.PositiveInfinity, expected[7]); // 70000 overflows half
        IoFiles.AssertBitEqual(expected, file.ReadFloats("special"), "special");
    }

    [Fact]
    public void ReadsHandWrittenF16AndBf16Bytes()
    {
        using var dir = new TempDirectory();
        string path = dir.File("mixed.safetensors");
        // F16 0x3C00 = 1, 0xC000 = -2; BF16 0x3FC0 = 1.5, 0x4049 = 3.140625.
        byte[] data = [0x00, 0x3C, 0x00, 0xC0, 0xC0, 0x3F, 0x49, 0x40];
        IoFiles.WriteRaw(path, "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]}}", data);
        using var file = SafeTensors.Open(path);
        Assert.Empty(file.Metadata);
        Assert.Equal([1f, -2f], file.ReadFloats("h"));
        Assert.Equal([1.5f, 3.140625f], file.ReadFloats("b"));
    }

    [Fact]
    public void OverwritingIsAtomicAndLeavesNoTemporaryFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("w.safetensors");
        SafeTensors.Write(path, [NamedTensor.Of("x", [2], [1f, 2f])]);
        Assert.Throws<InvalidOperationException>(() =>
            SafeTensors.Write(path, [new NamedTensor("x", [2], _ => throw new InvalidOperationException("source failed"))]));
        using (var file = SafeTensors.Open(path)) Assert.Equal([1f, 2f], file.ReadFloats("x"));
        SafeTensors.Write(path, [NamedTensor.Of("y", [1], [3f])]);
        using (var file = SafeTensors.Open(path)) Assert.Equal([3f], file.ReadFloats("y"));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void ReadingOneTensorStreamsInsteadOfLoadingTheFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("big.safetensors");
        const int n = 1 << 20;
        SafeTensors.Write(path, [NamedTensor.Of("a", [n], new float[n]), NamedTensor.Of("b", [n], TestData(n, 3))]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        using var file = SafeTensors.Open(path);
        long afterOpen = GC.GetAllocatedBytesForCurrentThread();
        var b = file.ReadFloats("b");
        long afterRead = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(afterOpen - before < 64 << 10, $"opening allocated {afterOpen - before} bytes");
        // The tensor itself (4 MiB) plus at most one pooled chunk: never the 8 MiB file.
        Assert.True(afterRead - afterOpen < (4 << 20) + (512 << 10), $"reading one 4 MiB tensor allocated {afterRead - afterOpen} bytes");
        IoFiles.AssertBitEqual(TestData(n, 3), b, "b");
    }

    public static TheoryData<string, string, byte[], string[]> BadFiles() => new()
    {
        { "invalid JSON", "{\"x\":{\"dtype\":\"F32\",", [], ["not valid JSON"] },
        { "not an object", "[1, 2]", [], ["not a JSON object"] },
        { "unknown dtype", "{\"x\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4], ["'x'", "unknown dtype 'Q4'"] },
        { "byte count", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", new byte[12], ["'x'", "16 bytes", "hold 12"] },
        { "out of range", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[4], ["'x'", "past the end"] },
        { "overlap", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12], ["'y'", "overlap"] },
        { "gap", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", new byte[12], ["'y'", "gap of 4 bytes"] },
        { "trailing bytes", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[8], ["trailing bytes"] },
        { "reversed offsets", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", new byte[4], ["'x'", "end before they begin"] },
        { "negative dimension", "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4], ["'x'", "non-negative"] },
        { "no shape", "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", new byte[4], ["'x'", "no shape"] },
        { "one offset", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", new byte[4], ["'x'", "data_offsets"] },
        { "huge shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}}", new byte[4], ["'x'", "too many"] },
        { "metadata not strings", "{\"__metadata__\":{\"format\":1}}", [], ["__metadata__", "'format'"] },
        { "duplicate tensor", "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", [], ["'x'", "twice"] },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void BadHeadersFailNamingTheFileAndTensor(string what, string header, byte[] data, string[] expectedInMessage)
    {
        using var dir = new TempDirectory();
        string path = dir.File("bad.safetensors");
        IoFiles.WriteRaw(path, header, data);
        var e = Assert.Throws<CheckpointFormatException>(() => SafeTensors.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        foreach (var part in expectedInMessage) Assert.True(e.Message.Contains(part), $"{what}: '{part}' not in: {e.Message}");
    }

    [Fact]
    public void TruncatedAndOversizedHeadersFailNamingTheFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("t.safetensors");

        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Contains("shorter than the 8-byte header length", Open(path));

        IoFiles.WriteRaw(path, "{}", [], headerLength: 1000);
        Assert.Contains("beyond the end of the 10-byte file", Open(path));

        IoFiles.WriteRaw(path, "{}", [], headerLength: 100_000_001);
        Assert.Contains("over the 100 MB limit", Open(path));

        IoFiles.WriteRaw(path, "{}", [], headerLength: ulong.MaxValue);
        Assert.Contains("over the 100 MB limit", Open(path));

        IoFiles.WriteRaw(path, "", []);
        Assert.Contains("not valid JSON", Open(path));
    }

    [Fact]
    public void UnsupportedDTypeAndTruncatedDataFailWhenReadNamingTheTensor()
    {
        using var dir = new TempDirectory();
        string path = dir.File("ids.safetensors");
        IoFiles.WriteRaw(path, "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", new byte[16]);
        using (var file = SafeTensors.Open(path))
        {
            var e = Assert.Throws<CheckpointFormatException>(() => file.ReadFloats("ids"));
            Assert.Contains(path, e.Message);
            Assert.Contains("'ids'", e.Message);
            Assert.Contains("I64", e.Message);
            Assert.Contains("no tensor named 'other'", Assert.Throws<CheckpointFormatException>(() => file.ReadFloats("other")).Message);
        }

        string truncated = dir.File("truncated.safetensors");
        SafeTensors.Write(truncated, [NamedTensor.Of("w", [4], [1f, 2f, 3f, 4f])]);
        var bytes = File.ReadAllBytes(truncated);
        File.WriteAllBytes(truncated, bytes[..^3]);
        var error = Assert.Throws<CheckpointFormatException>(() => SafeTensors.Open(truncated).Dispose());
        Assert.Contains(truncated, error.Message);
        Assert.Contains("'w'", error.Message);
        Assert.Contains("truncated", error.Message);
    }

    /// <summary>
    /// 300 corruptions of a small valid file — truncations at random points, random header bytes overwritten, random header lengths —
    /// must each either load the same shapes and values (a harmless change, like a renamed tensor or other whitespace) or throw
    /// CheckpointFormatException naming the file: never another exception type.
    /// </summary>
    [Fact]
    public void CorruptedFilesLoadEqualDataOrFailCleanly()
    {
        using var dir = new TempDirectory();
        string original = dir.File("valid.safetensors"), path = dir.File("corrupt.safetensors");
        SafeTensors.Write(original, Sample(), SafeTensorsDType.BF16);
        byte[] valid = File.ReadAllBytes(original);
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        var expected = Contents(original);

        var rng = new Random(12345);
        int clean = 0, equal = 0;
        var failures = new List<string>();
        for (int trial = 0; trial < 300; trial++)
        {
            byte[] bytes;
            string kind;
            switch (trial % 3)
            {
                case 0:
                    bytes = valid[..rng.Next(valid.Length)];
                    kind = $"truncated to {bytes.Length} bytes";
                    break;
                case 1:
                    bytes = (byte[])valid.Clone();
                    int flips = 1 + rng.Next(3);
                    for (int f = 0; f < flips; f++) bytes[8 + rng.Next(headerLength)] = (byte)(rng.Next(2) == 0 ? rng.Next(256) : rng.Next(0x20, 0x7F));
                    kind = $"{flips} header byte(s) overwritten";
                    break;
                default:
                    bytes = (byte[])valid.Clone();
                    ulong length = rng.Next(4) switch
                    {
                        0 => (ulong)rng.NextInt64(),
                        1 => (ulong)rng.Next(valid.Length + 16),
                        2 => (ulong)(headerLength + rng.Next(-8, 9)),
                        _ => ulong.MaxValue - (ulong)rng.Next(1000),
                    };
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
                    kind = $"header length {length}";
                    break;
            }
            File.WriteAllBytes(path, bytes);
            try
            {
                var loaded = Contents(path);
                if (Same(expected, loaded)) equal++;
                else failures.Add($"{kind}: loaded different data");
            }
            catch (CheckpointFormatException e) when (e.Message.Contains(path))
            {
                clean++;
            }
            catch (Exception e)
            {
                failures.Add($"{kind}: {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(clean > 250, $"only {clean} clean failures ({equal} equal loads)");

        // A harmless edit, a renamed tensor, loads the same data: the comparison above can succeed.
        int at = Encoding.UTF8.GetString(valid).IndexOf("\"a.bias\"", StringComparison.Ordinal);
        var renamed = (byte[])valid.Clone();
        renamed[at + 3] = (byte)'x';
        File.WriteAllBytes(path, renamed);
        Assert.True(Same(expected, Contents(path)));
    }

    /// <summary>Every tensor's shape and values in file order (by data offset), names aside.</summary>
    private static List<(int[] Shape, float[] Values)> Contents(string path)
    {
        using var file = SafeTensors.Open(path);
        return file.Tensors.Values.OrderBy(t => t.Begin).ThenBy(t => t.End).Select(t => (t.Shape, file.ReadFloats(t.Name))).ToList();
    }

    private static bool Same(List<(int[] Shape, float[] Values)> a, List<(int[] Shape, float[] Values)> b) =>
        a.Count == b.Count && a.Zip(b).All(p => p.First.Shape.SequenceEqual(p.Second.Shape)
            && p.First.Values.Select(BitConverter.SingleToInt32Bits).SequenceEqual(p.Second.Values.Select(BitConverter.SingleToInt32Bits)));

    private static string Open(string path) => Assert.Throws<CheckpointFormatException>(() => SafeTensors.Open(path).Dispose()).Message;
}
