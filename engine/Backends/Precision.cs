namespace Engine.Backends;

/// <summary>
/// What the matmuls multiply. Fp32: everything in float32. Bf16 (mixed precision, the ILGPU backend only): every linear layer's matmuls
/// (y = x·Wᵀ, dx = dy·W, dW = dyᵀ·x, the LM head's included) take operands rounded to bfloat16 and sum in float32; master weights,
/// gradients, AdamW, norms, softmax, attention and the loss stay float32 (docs/GPU.md, "bf16 mixed precision").
/// </summary>
public enum Precision { Fp32, Bf16 }
