namespace Engine.Kernels;

/// <summary>
/// Four floats in registers: one 16-byte access (ld/st .v4.f32) where the address is 16-byte aligned, the four fp32 accumulators c0..c3
/// of one m16n8 mma tile, or four attention scores of one row.
/// </summary>
internal struct Float4
{
    public float X, Y, Z, W;

    public Float4(float x, float y, float z, float w)
    {
        X = x;
        Y = y;
        Z = z;
        W = w;
    }

    /// <summary>this += a·b.</summary>
    public void MulAdd(float a, Float4 b)
    {
        X += a * b.X;
        Y += a * b.Y;
        Z += a * b.Z;
        W += a * b.W;
    }
}
