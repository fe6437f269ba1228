#!/usr/bin/env python3
"""PyTorch baseline for `engine bench kernels --size gpu`: the same ops at the same shapes, timed with torch on the same card.

fp32 runs with TF32 off (cuBLAS and cuDNN), as the engine computes in plain fp32. Each op is warmed up, then timed with CUDA
events: up to --repeats samples, each of enough back-to-back runs to last --min-sample-ms, while --max-seconds lasts; the median
is reported. FLOPs and bytes are counted with the engine's formulas (engine/Diagnostics/KernelBench.cs), and the JSON has the
engine's keys, so bench/gpu/compare.py joins the two files on (op, shape):
  {"source": "torch", "device": ..., "results": [{"op", "shape", "ms", "flops", "bytes", "gflops", "gbps", "tokens_per_s",
   "samples", "error"}]}
Needs only PyTorch (2.11 on the device machine); --help works without it. --device cpu --size tiny is a smoke test.
"""
import argparse
import gc
import json
import math
import statistics
import sys
import time

F32 = 4

# The shapes of KernelBenchSizes.Gpu (and Tiny, for a smoke test) in engine/Diagnostics/KernelBench.cs.
SIZES = {
    "gpu": dict(matmul=4096, attention=(8, 1024, 12, 64), tokens=8192, width=768, vocab=50257, head_rows=8192,
                parameters=1 << 27, copy=1 << 27, step=dict(layers=12, dim=768, heads=12, vocab=50257, context=1024, batch=8)),
    "tiny": dict(matmul=64, attention=(1, 32, 2, 16), tokens=16, width=32, vocab=101, head_rows=8,
                 parameters=4096, copy=4096, step=dict(layers=1, dim=32, heads=2, vocab=64, context=16, batch=2)),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="write the rows to this file")
    p.add_argument("--size", choices=sorted(SIZES), default="gpu")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (a smoke test: host timer, no TF32 switches)")
    p.add_argument("--only", help="comma-separated op-name prefixes to time (e.g. matmul,attention)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs of each op first")
    p.add_argument("--repeats", type=int, default=20, help="timed samples of each op (the median is reported)")
    p.add_argument("--max-seconds", type=float, default=3.0, help="stop sampling an op after this long (at least 3 samples)")
    p.add_argument("--min-sample-ms", type=float, default=1.0, help="back-to-back runs per sample until it lasts this long")
    p.add_argument("--losses", type=int, default=0, help="also record the first N losses of the GPT-2 step in fp32 and under bf16 autocast")
    return p.parse_args()


class Bench:
    def __init__(self, torch, args):
        self.torch, self.args, self.rows = torch, args, []
        self.cuda = args.device.startswith("cuda")
        self.prefixes = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None

    def _timed(self, fn, runs):
        """Milliseconds per run of `runs` back-to-back runs: CUDA events on a GPU, else a host clock."""
        if self.cuda:
            start, end = self.torch.cuda.Event(enable_timing=True), self.torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(runs):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / runs
        t0 = time.perf_counter()
        for _ in range(runs):
            fn()
        return (time.perf_counter() - t0) * 1000 / runs

    def time(self, fn):
        a = self.args
        for _ in range(max(1, a.warmup)):
            fn()
        if self.cuda:
            self.torch.cuda.synchronize()
        once = self._timed(fn, 1)
        inner = int(min(1000, max(1, math.ceil(a.min_sample_ms / max(once, 1e-3)))))
        samples, t0 = [], time.perf_counter()
        while len(samples) < max(3, a.repeats) and (len(samples) < 3 or time.perf_counter() - t0 < a.max_seconds):
            samples.append(self._timed(fn, inner))
        return statistics.median(samples), len(samples)

    def run(self, op, shape, flops, nbytes, setup, tokens=0):
        if self.prefixes is not None and not any(op.startswith(p) for p in self.prefixes):
            return
        row = dict(op=op, shape=shape, ms=None, flops=float(flops), bytes=float(nbytes), gflops=None, gbps=None,
                   tokens_per_s=None, samples=0, error=None)
        fn = None
        try:
            fn = setup()
            ms, samples = self.time(fn)
            row.update(ms=ms, samples=samples, gflops=flops / (ms * 1e6) if flops else None, gbps=nbytes / (ms * 1e6) if nbytes else None,
                       tokens_per_s=tokens / (ms / 1000) if tokens else None)
        except Exception as e:  # a failed op is a row with its error; the others still run
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        finally:
            del fn
            gc.collect()
            if self.cuda:
                self.torch.cuda.empty_cache()
        self.rows.append(row)
        print(format_row(row), flush=True)


def format_row(r):
    def num(v, f):
        return "-" if v is None else format(v, f)
    notes = r["error"] or (f"{r['tokens_per_s']:,.0f} tokens/s" if r["tokens_per_s"] else "")
    return f"{r['op']:<20} {r['shape']:<36} {num(r['ms'], '.3f'):>10} {num(r['gflops'], '.1f'):>9} {num(r['gbps'], '.1f'):>8}  {notes}"


def gpt2(torch, layers, dim, heads, vocab, context):
    """nanoGPT's model: learned positions, pre-LayerNorm blocks, causal SDPA, GELU (tanh), LM head tied to the token embedding."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.c_attn, self.c_proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.c_fc, self.gelu, self.mlp_proj = nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = (z.view(b, t, heads, c // heads).transpose(1, 2) for z in self.c_attn(self.ln_1(x)).split(c, dim=2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).contiguous().view(b, t, c)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(self.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, dim), nn.Embedding(context, dim)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln_f = nn.LayerNorm(dim)
            self.lm_head = nn.Linear(dim, vocab, bias=False)
            self.lm_head.weight = self.wte.weight
            for name, p in self.named_parameters():
                if p.dim() >= 2:
                    std = 0.02 / math.sqrt(2 * layers) if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02
                    nn.init.normal_(p, 0.0, std)
                elif name.endswith("bias"):
                    nn.init.zeros_(p)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
            for block in self.blocks:
                x = block(x)
            return self.lm_head(self.ln_f(x))

    return GPT()


def cases(bench, torch, size, device):
    F = torch.nn.functional
    s = SIZES[size]
    f32, bf16 = torch.float32, torch.bfloat16

    def randn(*shape, dtype=f32, scale=1.0, grad=False):
        return (torch.randn(*shape, device=device, dtype=f32) * scale).to(dtype).requires_grad_(grad)

    def ints(count, high):
        return torch.randint(0, high, (count,), device=device)

    def grad_of(y, inputs, dy):
        return lambda: torch.autograd.grad(y, inputs, dy, retain_graph=True)

    copy = s["copy"]
    def copy_setup():
        x, y = randn(copy), randn(copy)
        return lambda: y.copy_(x)
    bench.run("copy", f"N={copy}", 0, 2 * F32 * copy, copy_setup)

    m = s["matmul"]
    mm, shape = m * m, f"n={m},in={m},out={m}"
    def matmul_fwd(dtype):
        def setup():
            x, w, y = randn(m, m, dtype=dtype), randn(m, m, dtype=dtype), randn(m, m, dtype=dtype)
            return lambda: torch.mm(x, w.t(), out=y)
        return setup
    def matmul_bwd():
        x, w, dy = randn(m, m, grad=True), randn(m, m, grad=True), randn(m, m)
        return grad_of(x @ w.t(), (x, w), dy)
    bench.run("matmul_fp32_fwd", shape, 2 * mm * m, 3 * F32 * mm, matmul_fwd(f32))
    bench.run("matmul_fp32_bwd", shape, 4 * mm * m, 7 * F32 * mm, matmul_bwd)
    bench.run("matmul_bf16_fwd", shape, 2 * mm * m, (2 * 2 + F32) * mm, matmul_fwd(bf16))  # torch writes bf16 (the engine fp32)

    b, t, h, d = s["attention"]
    q_size, lse_size = b * t * h * d, b * h * t
    attention_flops = 2.0 * b * h * t * t * d  # 4·B·H·T²·D, halved by the causal mask
    shape = f"B={b},T={t},H={h},D={d}"
    def attention(dtype, backward):
        def setup():
            q, k, v = (randn(b, h, t, d, dtype=dtype, scale=2.0 if i < 2 else 1.0, grad=backward) for i in range(3))
            if not backward:
                return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return grad_of(F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v), randn(b, h, t, d, dtype=dtype))
        return setup
    for dtype, suffix, size_of in ((f32, "", F32), (bf16, "_bf16", 2)):
        bench.run("attention_fwd" + suffix, shape, attention_flops, size_of * 4 * q_size + F32 * lse_size, attention(dtype, False))
        bench.run("attention_bwd" + suffix, shape, 2.5 * attention_flops, size_of * 11 * q_size + F32 * lse_size, attention(dtype, True))

    r, c, v = s["head_rows"], s["width"], s["vocab"]
    def cross_entropy_fused():
        x, w, targets = randn(r, c, grad=True), randn(v, c, scale=0.1, grad=True), ints(r, v)
        def step():
            loss = F.cross_entropy(x @ w.t(), targets)
            return torch.autograd.grad(loss, (x, w))
        return step
    def cross_entropy_rows():
        z, targets = randn(r, v, scale=8.0, grad=True), ints(r, v)
        return lambda: torch.autograd.grad(F.cross_entropy(z, targets), z)
    bench.run("cross_entropy_fused", f"rows={r},C={c},V={v}", 6.0 * r * c * v, 2 * F32 * r * v, cross_entropy_fused)
    bench.run("cross_entropy_rows", f"rows={r},V={v}", 0, 2 * F32 * r * v, cross_entropy_rows)

    n, f = s["tokens"], 4 * s["width"]
    nc, nf, tokens, hidden = n * c, n * f, f"N={n},C={c}", f"N={n},C={f}"
    lora_rank, lora_scale = 16, 2.0
    lora_side = lora_rank * c
    def lora(backward):
        def setup():
            x, w = randn(n, c, grad=backward), randn(c, c)
            a, b_ = randn(lora_rank, c, grad=backward), randn(c, lora_rank, grad=backward)
            y = lambda: F.linear(x, w) + lora_scale * F.linear(F.linear(x, a), b_)
            return grad_of(y(), (x, a, b_), randn(n, c)) if backward else y
        return setup
    shape = f"n={n},in={c},out={c},r={lora_rank}"
    bench.run("lora_fwd", shape, 2 * nc * c + 4 * nc * lora_rank, F32 * (2 * nc + c * c + 2 * lora_side + n * lora_rank), lora(False))
    bench.run("lora_bwd", shape, 2 * nc * c + 8 * nc * lora_rank, F32 * (4 * nc + c * c + 6 * lora_side + n * lora_rank), lora(True))
    def layernorm(backward):
        def setup():
            x, w, b_ = randn(n, c, grad=backward), randn(c, grad=backward), randn(c, grad=backward)
            if not backward:
                return lambda: F.layer_norm(x, (c,), w, b_, 1e-5)
            return grad_of(F.layer_norm(x, (c,), w, b_, 1e-5), (x, w, b_), randn(n, c))
        return setup
    def rmsnorm(backward):
        def setup():
            x, w = randn(n, c, grad=backward), randn(c, grad=backward)
            if not backward:
                return lambda: F.rms_norm(x, (c,), w, 1e-6)
            return grad_of(F.rms_norm(x, (c,), w, 1e-6), (x, w), randn(n, c))
        return setup
    def gelu(backward):
        def setup():
            x = randn(n, f, scale=4.0, grad=backward)
            if not backward:
                return lambda: F.gelu(x, approximate="tanh")
            return grad_of(F.gelu(x, approximate="tanh"), (x,), randn(n, f))
        return setup
    def swiglu(backward):
        def setup():
            gate, up = randn(n, f, scale=4.0, grad=backward), randn(n, f, grad=backward)
            if not backward:
                return lambda: F.silu(gate) * up
            return grad_of(F.silu(gate) * up, (gate, up), randn(n, f))
        return setup
    def geglu(backward):
        def setup():
            gate, up = randn(n, f, scale=4.0, grad=backward), randn(n, f, grad=backward)
            if not backward:
                return lambda: F.gelu(gate, approximate="tanh") * up
            return grad_of(F.gelu(gate, approximate="tanh") * up, (gate, up), randn(n, f))
        return setup
    bench.run("layernorm_fwd", tokens, 0, F32 * (2 * nc + 2 * c + 2 * n), layernorm(False))
    bench.run("layernorm_bwd", tokens, 0, F32 * (4 * nc + 5 * c + 2 * n), layernorm(True))
    bench.run("rmsnorm_fwd", tokens, 0, F32 * (2 * nc + c + n), rmsnorm(False))
    bench.run("rmsnorm_bwd", tokens, 0, F32 * (4 * nc + 3 * c + n), rmsnorm(True))
    bench.run("gelu_fwd", hidden, 0, F32 * 2 * nf, gelu(False))
    bench.run("gelu_bwd", hidden, 0, F32 * 4 * nf, gelu(True))
    bench.run("swiglu_fwd", hidden, 0, F32 * 3 * nf, swiglu(False))
    bench.run("swiglu_bwd", hidden, 0, F32 * 7 * nf, swiglu(True))
    bench.run("geglu_fwd", hidden, 0, F32 * 3 * nf, geglu(False))
    bench.run("geglu_bwd", hidden, 0, F32 * 7 * nf, geglu(True))

    context = s["attention"][1]
    def embedding(backward):
        def setup():
            ids, positions = ints(n, v), ints(n, context)
            wte, wpe = randn(v, c, grad=backward), randn(context, c, grad=backward)
            if not backward:
                return lambda: F.embedding(ids, wte) + F.embedding(positions, wpe)
            return grad_of(F.embedding(ids, wte) + F.embedding(positions, wpe), (wte, wpe), randn(n, c))
        return setup
    bench.run("embedding_fwd", f"N={n},C={c},V={v}", 0, F32 * 3 * nc, embedding(False))
    bench.run("embedding_bwd", f"N={n},C={c},V={v}", 0, F32 * 5 * nc, embedding(True))

    def add():
        x, y, z = randn(n, c), randn(n, c), randn(n, c)
        return lambda: torch.add(x, y, out=z)
    def accumulate():
        x, y = randn(n, c), randn(n, c)
        return lambda: y.add_(x)
    def scale():
        x = randn(n, c)
        return lambda: x.mul_(0.999)
    def sum_of_squares():
        x = randn(n, c)
        return lambda: torch.linalg.vector_norm(x)
    bench.run("add", tokens, 0, F32 * 3 * nc, add)
    bench.run("accumulate", tokens, 0, F32 * 3 * nc, accumulate)
    bench.run("scale", tokens, 0, F32 * 2 * nc, scale)
    bench.run("sum_of_squares", tokens, 0, F32 * nc, sum_of_squares)

    p_count = s["parameters"]
    def adamw():
        p = randn(p_count, grad=True)
        p.grad = randn(p_count)
        optimizer = torch.optim.AdamW([p], lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, fused=bench.cuda)
        return optimizer.step
    bench.run("adamw", f"P={p_count}", 0, F32 * 7 * p_count, adamw)

    g = s["step"]
    layers, dim, heads, vocab, context, batch = g["layers"], g["dim"], g["heads"], g["vocab"], g["context"], g["batch"]
    step_tokens = batch * context
    matmul_weights = layers * (4.0 * dim * dim + 2.0 * dim * 4 * dim) + vocab * dim
    step_flops = 6 * matmul_weights * step_tokens + layers * 3.5 * 2.0 * batch * heads * context * context * (dim // heads)
    def gpt2_setup(autocast, seed=1):
        """A fresh model and optimizer; the step runs under bf16 autocast (the matmuls in bf16, the weights and AdamW in fp32) or in fp32."""
        torch.manual_seed(seed)
        model = gpt2(torch, layers, dim, heads, vocab, context).to(device)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW([dict(params=decay, weight_decay=0.1), dict(params=no_decay, weight_decay=0.0)],
                                      lr=1e-4, betas=(0.9, 0.95), eps=1e-8, fused=bench.cuda)
        idx, targets = (torch.randint(0, vocab, (batch, context), device=device) for _ in range(2))
        def step():
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=autocast):
                loss = F.cross_entropy(model(idx).view(-1, vocab), targets.view(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            return loss
        return step
    step_shape = f"L={layers},C={dim},H={heads},V={vocab},B={batch},T={context}"
    bench.run("gpt2_step", step_shape, step_flops, 0, lambda: gpt2_setup(autocast=False), tokens=step_tokens)
    bench.run("gpt2_step_bf16", step_shape, step_flops, 0, lambda: gpt2_setup(autocast=True), tokens=step_tokens)
    return step_shape, gpt2_setup


def first_losses(torch, setup, steps):
    """The first `steps` losses of an fp32 and a bf16-autocast run from the same weights and batch: how far torch's own bf16 path strays."""
    losses = {}
    for name, autocast in (("fp32", False), ("bf16", True)):
        step = setup(autocast)
        losses[name] = [float(step().detach()) for _ in range(steps)]
        del step
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return losses


def main():
    args = parse_args()
    try:
        import torch
    except ImportError:
        print("torch_baseline: PyTorch is not installed here", file=sys.stderr)
        return 2
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("torch_baseline: no CUDA device", file=sys.stderr)
            return 2
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        device_name = torch.cuda.get_device_name()
    else:
        device_name = "cpu"
    torch.manual_seed(1)
    print(f"torch {torch.__version__} on {device_name}, {args.size} sizes, TF32 off, {args.repeats} samples (at most {args.max_seconds} s) "
          f"after {args.warmup} warm-up runs", flush=True)
    print(f"{'op':<20} {'shape':<36} {'ms':>10} {'GFLOP/s':>9} {'GB/s':>8}  notes", flush=True)
    bench = Bench(torch, args)
    step_shape, gpt2_setup = cases(bench, torch, args.size, args.device)
    losses = None
    if args.losses > 0:
        losses = dict(shape=step_shape, **first_losses(torch, gpt2_setup, args.losses))
        print(f"gpt2 losses (fp32, bf16 autocast): {list(zip(losses['fp32'], losses['bf16']))}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(source="torch", torch=torch.__version__, device=device_name, sizes=args.size, tf32=False, results=bench.rows,
                           gpt2_losses=losses), f, indent=2)
    return 0 if all(r["error"] is None for r in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
