#!/usr/bin/env python3
"""Compare `engine bench kernels --json` with `torch_baseline.py --json` (same card, same op names and shapes) and print issue 3's goals last.

usage: compare.py OURS.json TORCH.json [--selftest SELFTEST.json]

Ratio = ours/torch throughput = torch ms / ours ms at the same (op, shape). The goals: fp32 matmul >= 0.7 of cuBLAS (TF32 off),
bf16 matmul >= 0.4 of cuBLAS, attention forward + backward >= 0.4 of torch's scaled_dot_product_attention (fp32), the
cross-entropy rows kernel >= 0.7 of the memory bandwidth measured by a device-to-device copy, and the GPT-2 124M training step
against torch eager. A missing or failed file prints what it can.
"""
import argparse
import json
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"compare: cannot read {path}: {e}")
        return None


def rows_by_key(doc):
    return {(r["op"], r["shape"]): r for r in (doc or {}).get("results", [])}


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_selftest(doc):
    if doc is None:
        return
    rows = doc.get("rows", [])
    failed = [r for r in rows if not r.get("passed")]
    print(f"selftest ({doc.get('backend')}, {doc.get('sizes')} sizes): {len(rows) - len(failed)} of {len(rows)} outputs pass")
    for r in failed[:20]:
        print(f"  FAIL {r['op']} {r['output']} [{r['shape']}] error {fmt(r.get('error'), '.2e')} > {r['tolerance']:.0e} {r.get('failure') or ''}")
    if len(failed) > 20:
        print(f"  ... and {len(failed) - 20} more (see selftest.json)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ours")
    p.add_argument("torch")
    p.add_argument("--selftest", help="the JSON of `engine selftest --json`")
    args = p.parse_args()

    if args.selftest:
        print_selftest(load(args.selftest))
    ours_doc, torch_doc = load(args.ours), load(args.torch)
    ours, theirs = rows_by_key(ours_doc), rows_by_key(torch_doc)
    print(f"ours: {(ours_doc or {}).get('backend', '?')}; torch: {(torch_doc or {}).get('torch', '?')} on {(torch_doc or {}).get('device', '?')}")

    def ms(rows, op, shape=None):
        """Median ms of op (at shape, or its only shape), None when missing or failed."""
        hits = [r for (o, s), r in rows.items() if o == op and (shape is None or s == shape)]
        return hits[0].get("ms") if hits else None

    def ratio(torch_ms, ours_ms):
        return torch_ms / ours_ms if torch_ms and ours_ms else None

    print(f"{'op':<20} {'shape':<36} {'ours ms':>9} {'torch ms':>9} {'ours/torch':>10} {'GFLOP/s':>9} {'GB/s':>8}")
    for (op, shape), r in list(ours.items()) + [(k, v) for k, v in theirs.items() if k not in ours]:
        o, t = ours.get((op, shape), {}), theirs.get((op, shape), {})
        note = o.get("error") or t.get("error") or ""
        print(f"{op:<20} {shape:<36} {fmt(o.get('ms'), '.3f'):>9} {fmt(t.get('ms'), '.3f'):>9} {fmt(ratio(t.get('ms'), o.get('ms')), '.2f'):>10} "
              f"{fmt(o.get('gflops'), '.0f'):>9} {fmt(o.get('gbps'), '.0f'):>8}  {note[:60]}")

    def total(rows, *ops):
        times = [ms(rows, op) for op in ops]
        return sum(times) if all(times) else None

    copy_gbps = [r.get("gbps") for (op, _), r in list(ours.items()) + list(theirs.items()) if op == "copy" and r.get("gbps")]
    bandwidth = max(copy_gbps) if copy_gbps else None
    rows_gbps = next((r.get("gbps") for (op, _), r in ours.items() if op == "cross_entropy_rows"), None)
    goals = [
        ("fp32 matmul vs cuBLAS (TF32 off)", ratio(ms(theirs, "matmul_fp32_fwd"), ms(ours, "matmul_fp32_fwd")), 0.7),
        ("bf16 matmul vs cuBLAS", ratio(ms(theirs, "matmul_bf16_fwd"), ms(ours, "matmul_bf16_fwd")), 0.4),
        ("attention fwd+bwd vs SDPA fp32", ratio(total(theirs, "attention_fwd", "attention_bwd"), total(ours, "attention_fwd", "attention_bwd")), 0.4),
        ("  (info) attention fwd+bwd vs SDPA bf16", ratio(total(theirs, "attention_fwd_bf16", "attention_bwd_bf16"), total(ours, "attention_fwd", "attention_bwd")), None),
        (f"cross-entropy rows vs copy bandwidth ({fmt(bandwidth, '.0f')} GB/s)", rows_gbps / bandwidth if rows_gbps and bandwidth else None, 0.7),
        ("  (info) fused LM head + cross-entropy vs torch", ratio(ms(theirs, "cross_entropy_fused"), ms(ours, "cross_entropy_fused")), None),
        ("GPT-2 124M step vs torch eager (tokens/s)", ratio(ms(theirs, "gpt2_step"), ms(ours, "gpt2_step")), None),
    ]
    step = next((r for (op, _), r in ours.items() if op == "gpt2_step"), {})
    torch_step = next((r for (op, _), r in theirs.items() if op == "gpt2_step"), {})
    print(f"GPT-2 step: ours {fmt(step.get('tokens_per_s'), ',.0f')} tokens/s, torch eager {fmt(torch_step.get('tokens_per_s'), ',.0f')} tokens/s")
    print("goals (issue 3):")
    for name, value, target in goals:
        verdict = "n/a" if value is None else "" if target is None else "MET" if value >= target else "MISSED"
        print(f"  {name:<58} {fmt(value, '.2f'):>6}  {'>= ' + format(target, '.1f') if target else '':<7} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
