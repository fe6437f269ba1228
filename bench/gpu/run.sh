#!/usr/bin/env bash
# The one command a GPU session runs (from the repository root, after `../shared/device/pack engine/cli/Engine.Cli.csproj engine`):
# unpack the self-contained engine, check every kernel against the CPU backend at realistic sizes, time our kernels and PyTorch's
# on this card, time a bf16 GPT-2 124M training step against torch's bf16 autocast and check its first 20 losses against fp32, and
# print the comparison with issue 3's goals LAST (the device tool returns only the last 12,000 characters).
# Each stage is bounded in time and the next runs whatever the last did; full logs and JSON go to $OUT. See docs/GPU.md.
set -u
OUT=${OUT:-/tmp/gpu-out}
APP=${APP:-/tmp/app}
mkdir -p "$OUT" "$APP"
status=()

# stage NAME SECONDS COMMAND...: run it with a time limit, its output to $OUT/NAME.log, its last lines here.
stage() {
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  echo "=== $name: $*"
  timeout --kill-after=5 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  [ "$rc" -ne 0 ] && head -n 2 "$OUT/$name.log"
  tail -n 4 "$OUT/$name.log"
  local verdict="ok"
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && verdict="TIMED OUT after ${limit} s"
  [ "$rc" -ne 0 ] && [ "$verdict" = ok ] && verdict="FAILED (exit $rc)"
  status+=("$(printf '%-9s %-28s %4d s' "$name" "$verdict" $((SECONDS - start)))")
}

if ! tar -xzf .device/engine.tar.gz -C "$APP"; then
  echo "no .device/engine.tar.gz: run ../shared/device/pack engine/cli/Engine.Cli.csproj engine first, and carry .device"
  exit 2
fi
nvidia-smi -L
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader

# GPT-2 124M (the shape of KernelBenchSizes.Gpu's step) trained 20 steps from the same weights on the same batch at each precision:
# the bf16 step's time (median of the 20) and its losses against the fp32 run's. No warm-up, so the losses are the first 20.
step=(bench step --backend cuda --family gpt2 --vocab 50257 --seq 1024 --batch 8 --layers 12 --dim 768 --heads 12 --steps 20 --warmup 0)

# Limits: 95 + 150 + 95 + 50 + 45 = 435 s, plus up to 5 s each after a stage ignores its TERM: under 8 minutes with the unpack.
stage selftest 95 "$APP/engine" selftest --backend cuda --json "$OUT/selftest.json"
stage ours 150 "$APP/engine" bench kernels --backend cuda --max-seconds 2 --json "$OUT/ours.json"
stage torch 95 python3 bench/gpu/torch_baseline.py --max-seconds 2 --losses 20 --json "$OUT/torch.json"
stage step_bf16 50 "$APP/engine" "${step[@]}" --precision bf16 --json "$OUT/step_bf16.json"
stage step_fp32 45 "$APP/engine" "${step[@]}" --precision fp32 --json "$OUT/step_fp32.json"

echo "=== stages"
printf '%s\n' "${status[@]}"
echo "=== comparison (full rows: selftest.log, ours.log, torch.log, step_bf16.log, step_fp32.log in \$OUT)"
python3 bench/gpu/compare.py "$OUT/ours.json" "$OUT/torch.json" --selftest "$OUT/selftest.json" \
  --step-bf16 "$OUT/step_bf16.json" --step-fp32 "$OUT/step_fp32.json"
