using ILGPU;

namespace Engine.Kernels;

/// <summary>bfloat16 as its 16 bits in a ushort (the upper half of a float32): conversions on the host and, for one value, in kernels.</summary>
public static class Bf16
{
    /// <summary>float32 -> bf16 bits, rounding to nearest, ties to even; NaN stays a (quiet) NaN, overflow rounds to ±infinity.
    /// The same code in kernels (<see cref="Bf16Kernels"/>) and on the host, so both round every value alike.</summary>
    public static ushort FromFloat(float value)
    {
        uint bits = Interop.FloatAsInt(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040);
        uint roundingBias = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>bf16 bits -> float32 (exact).</summary>
    public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    public static void FromFloat(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"destination has {destination.Length} elements, expected {source.Length}", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = FromFloat(source[i]);
    }

    public static void ToFloat(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"destination has {destination.Length} elements, expected {source.Length}", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = ToFloat(source[i]);
    }
}
