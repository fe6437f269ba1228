using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Engine.IO;

/// <summary>
/// Little-endian float32, float16 and bfloat16 bytes to and from float32. Checkpoint files are little-endian, as is every platform
/// .NET runs this engine on, so bytes are reinterpreted in place.
/// </summary>
internal static class FloatFormats
{
    /// <summary>dst[i] = the float32 whose upper 16 bits are the i-th bfloat16 of src (exact).</summary>
    public static void Bf16ToFloat(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var halves = Cast<ushort>(src, dst.Length);
        var bits = MemoryMarshal.Cast<float, uint>(dst);
        for (int i = 0; i < bits.Length; i++) bits[i] = (uint)halves[i] << 16;
    }

    /// <summary>dst[i] = the i-th IEEE half of src widened to float32 (exact).</summary>
    public static void F16ToFloat(ReadOnlySpan<byte> src, Span<float> dst) => TensorPrimitives.ConvertToSingle(Cast<Half>(src, dst.Length), dst);

    /// <summary>dst = the first dst.Length float32 values of src.</summary>
    public static void F32ToFloat(ReadOnlySpan<byte> src, Span<float> dst) => Cast<float>(src, dst.Length).CopyTo(dst);

    /// <summary>Writes src as bfloat16, rounding to nearest even as PyTorch does (every NaN becomes 0x7FC0).</summary>
    public static void FloatToBf16(ReadOnlySpan<float> src, Span<byte> dst)
    {
        var halves = Cast<ushort>(dst);
        for (int i = 0; i < src.Length; i++) halves[i] = ToBf16(src[i]);
    }

    /// <summary>Writes src as IEEE half, rounding to nearest even.</summary>
    public static void FloatToF16(ReadOnlySpan<float> src, Span<byte> dst) => TensorPrimitives.ConvertToHalf(src, Cast<Half>(dst));

    /// <summary>Writes src as float32 bytes.</summary>
    public static void FloatToF32(ReadOnlySpan<float> src, Span<byte> dst) => src.CopyTo(Cast<float>(dst));

    /// <summary>The bfloat16 nearest to x, ties to even.</summary>
    private static ushort ToBf16(float x)
    {
        if (float.IsNaN(x)) return 0x7FC0;
        uint bits = BitConverter.SingleToUInt32Bits(x);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }

    private static ReadOnlySpan<T> Cast<T>(ReadOnlySpan<byte> src, int count) where T : struct
    {
        RequireLittleEndian();
        return MemoryMarshal.Cast<byte, T>(src)[..count];
    }

    private static Span<T> Cast<T>(Span<byte> dst) where T : struct
    {
        RequireLittleEndian();
        return MemoryMarshal.Cast<byte, T>(dst);
    }

    private static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("checkpoint files are little-endian; this platform is not");
    }
}
