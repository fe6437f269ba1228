#!/usr/bin/env python3
"""Static kernel audit: assembles every kernel's PTX (written by `engine bench ptx`) with NVIDIA's ptxas for sm_80 and sm_90 and
prints, per kernel and architecture: accepted, registers, stack frame, spills, static shared memory, the most threads per group, and
the theoretical occupancy on an H100 (sm_90: 64 K registers, 64 warps, 32 groups and 228 KiB of shared memory per SM); for the hot
kernels also the SASS of their main loop (the backward branch whose body holds the most HMMA + FFMA): HMMA, FFMA, LDS.128, LDL, STL,
BAR.SYNC. Exit code 1 when a kernel is rejected or a hot kernel has a stack frame or local-memory traffic.

usage: ptxas_audit.py PTX_DIR CUDA_BIN_DIR [--markdown FILE]
"""
import re
import subprocess
import sys
from pathlib import Path

HOT = {"MatMulKernels.Gemm", "MatMulKernels.GemmBf16", "AttentionKernels.Forward", "AttentionKernels.BackwardKeyValue",
       "AttentionKernels.BackwardQuery", "CrossEntropyKernels.SoftmaxRows", "CachedAttentionKernels.Forward"}
ARCHS = ["sm_80", "sm_90"]
SASS_COUNTS = [("HMMA", r"\bHMMA\b"), ("FFMA", r"\bFFMA\b"), ("LDS.128", r"\bLDS\.128\b"), ("LDL", r"\bLDL\b"), ("STL", r"\bSTL\b"),
               ("BAR.SYNC", r"\bBAR\.SYNC\b")]

# H100 (sm_90) per SM
REGISTERS, MAX_WARPS, MAX_GROUPS, SHARED, SHARED_RESERVED, REGISTER_UNIT = 65536, 64, 32, 228 * 1024, 1024, 256


def occupancy(registers, shared, threads):
    """Resident warps / 64 for groups of `threads` threads using `registers` per thread and `shared` bytes per group."""
    warps = -(-threads // 32)
    per_warp = -(-max(registers, 1) * 32 // REGISTER_UNIT) * REGISTER_UNIT
    groups = min(MAX_GROUPS, MAX_WARPS // warps, (REGISTERS // per_warp) // warps, SHARED // (shared + SHARED_RESERVED))
    return groups * warps / MAX_WARPS


def assemble(ptxas, ptx, arch, cubin):
    run = subprocess.run([ptxas, "-v", "-O3", f"-arch={arch}", str(ptx), "-o", str(cubin)], capture_output=True, text=True)
    info = run.stdout + run.stderr
    if run.returncode != 0:
        return {"accepted": False, "error": info.strip().splitlines()[-1] if info.strip() else f"exit {run.returncode}"}
    number = lambda pattern: int(m.group(1)) if (m := re.search(pattern, info)) else 0
    return {"accepted": True, "registers": number(r"Used (\d+) registers"), "stack": number(r"(\d+) bytes stack frame"),
            "spill_stores": number(r"(\d+) bytes spill stores"), "spill_loads": number(r"(\d+) bytes spill loads"),
            "shared": number(r"(\d+) bytes smem")}


def main_loop_counts(cuobjdump, cubin):
    """Counts in the body of the backward branch whose span holds the most HMMA + FFMA (the kernel's main loop)."""
    sass = subprocess.run([cuobjdump, "-sass", str(cubin)], capture_output=True, text=True, check=True).stdout
    lines = [(int(m.group(1), 16), m.group(2)) for m in re.finditer(r"/\*([0-9a-f]{4,})\*/\s+(.*?);", sass)]
    best, best_work = None, -1
    for address, text in lines:
        if (m := re.search(r"\bBRA\s+(?:`\(\.L_x_\d+\)\s*)?0x([0-9a-f]+)", text)) and int(m.group(1), 16) <= address:
            body = [t for a, t in lines if int(m.group(1), 16) <= a <= address]
            work = sum(bool(re.search(r"\b(HMMA|FFMA)\b", t)) for t in body)
            if work > best_work:
                best, best_work = body, work
    body = best or []
    return {name: sum(bool(re.search(pattern, t)) for t in body) for name, pattern in SASS_COUNTS}


def main():
    args = sys.argv[1:]
    markdown = None
    if "--markdown" in args:
        i = args.index("--markdown")
        markdown = Path(args[i + 1])
        del args[i:i + 2]
    ptx_dir, bin_dir = Path(args[0]), Path(args[1])
    ptxas, cuobjdump = bin_dir / "ptxas", bin_dir / "cuobjdump"
    manifest = [line.split("\t") for line in (ptx_dir / "kernels.tsv").read_text().splitlines()[1:]]

    header = ["kernel", "arch", "accepted", "regs", "stack B", "spill st/ld B", "smem B", "threads", "occupancy (H100)",
              "main loop: " + " ".join(name for name, _ in SASS_COUNTS)]
    rows, failures = [], []
    for name, grouping, max_group in manifest:
        ptx = ptx_dir / f"{name}.ptx"
        dynamic = ".extern .shared" in ptx.read_text()
        for arch in ARCHS:
            cubin = ptx_dir / f"{name}.{arch}.cubin"
            r = assemble(ptxas, ptx, arch, cubin)
            if not r["accepted"]:
                rows.append([name, arch, "NO: " + r["error"]] + [""] * (len(header) - 3))
                failures.append(f"{name} ({arch}) rejected by ptxas: {r['error']}")
                continue
            if max_group == "auto":
                best = max(range(32, 1025, 32), key=lambda t: occupancy(r["registers"], r["shared"], t))
                threads, occ = f"auto ({best})", occupancy(r["registers"], r["shared"], best)
            else:
                threads, occ = max_group, occupancy(r["registers"], r["shared"], int(max_group))
            loop = ""
            if name in HOT:
                counts = main_loop_counts(cuobjdump, cubin)
                loop = " ".join(str(counts[n]) for n, _ in SASS_COUNTS)
                if r["stack"] > 0 or counts["LDL"] > 0 or counts["STL"] > 0:
                    failures.append(f"{name} ({arch}): hot kernel with a {r['stack']}-byte stack frame, {counts['LDL']} LDL and "
                                    f"{counts['STL']} STL in its main loop")
            rows.append([name + (" (hot)" if name in HOT else ""), arch, "yes", str(r["registers"]), str(r["stack"]),
                         f"{r['spill_stores']}/{r['spill_loads']}", str(r["shared"]) + (" + dynamic" if dynamic else ""), threads,
                         f"{occ:.0%}" + (" (static smem only)" if dynamic else ""), loop])

    table = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)] + ["| " + " | ".join(row) + " |" for row in rows]
    print("\n".join(table))
    if markdown:
        markdown.write_text("\n".join(table) + "\n")
    for failure in failures:
        print("FAIL:", failure)
    print(f"{len(manifest)} kernels, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
