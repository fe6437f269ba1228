#!/usr/bin/env bash
# The one command a GPU session runs (from the repository root, after `../shared/device/pack engine/cli/Engine.Cli.csproj engine`):
# unpack the self-contained engine, check every kernel against the CPU backend at realistic sizes, time our kernels and PyTorch's
# on this card, and print the comparison with issue 3's goals LAST (the device tool returns only the last 12,000 characters).
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
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
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

stage selftest 120 "$APP/engine" selftest --backend cuda --json "$OUT/selftest.json"
stage ours 200 "$APP/engine" bench kernels --backend cuda --json "$OUT/ours.json"
stage torch 120 python3 bench/gpu/torch_baseline.py --json "$OUT/torch.json"

echo "=== stages"
printf '%s\n' "${status[@]}"
echo "=== comparison (full rows: selftest.log, ours.log, torch.log in \$OUT)"
python3 bench/gpu/compare.py "$OUT/ours.json" "$OUT/torch.json" --selftest "$OUT/selftest.json"
