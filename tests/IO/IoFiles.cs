using System.Buffers.Binary;
using System.Text;
using Engine.Backends;
using Engine.Models;

namespace Engine.Tests.IO;

/// <summary>Hand-made files for the readers: raw safetensors bytes and parameter snapshots of models.</summary>
public static class IoFiles
{
    /// <summary>A safetensors file from its parts: the 8-byte length (the header's own unless given), the header text, the data.</summary>
    public static void WriteRaw(string path, string header, byte[] data, ulong? headerLength = null)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + json.Length);
        System.IO.File.WriteAllBytes(path, bytes);
    }

    public static byte[] Floats(params float[] values)
    {
        var bytes = new byte[4 * values.Length];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }

    /// <summary>Every parameter's values by name (downloaded from the CPU backend).</summary>
    public static Dictionary<string, float[]> Snapshot(Transformer model) =>
        model.Parameters.ToDictionary(p => p.Name, p => CpuBackend.F(p.Value).ToArray());

    /// <summary>bfloat16 by hand: keep the upper 16 bits after adding 0x7FFF plus the lowest kept bit (round to nearest, ties to even).</summary>
    public static float RoundToBf16(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        uint rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000;
        return BitConverter.UInt32BitsToSingle(rounded);
    }

    public static void AssertBitEqual(float[] expected, float[] actual, string what)
    {
        Xunit.Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Xunit.Assert.Fail($"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
    }
}
