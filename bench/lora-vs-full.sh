#!/usr/bin/env bash
# Full fine-tuning against LoRA r=8 and r=64 on the main job (the built-in base model, TinyChat, 500 steps), each at two learning
# rates, then `engine tradeoff`: trainable parameters, memory, step time, target loss and exact match, forgetting.
# Usage: bench/lora-vs-full.sh [out-dir]   (about 10 minutes on 2 cores; results in out-dir/tradeoff.md and tradeoff.png)
set -euo pipefail
out=${1:-runs/lora-vs-full}
cd "$(dirname "$0")/.."
dotnet build -c Release engine/cli >/dev/null
engine() { dotnet engine/cli/bin/Release/net10.0/engine.dll "$@"; }

runs=()
sft() {   # name, then sft options
  local name=$1; shift
  echo "== $name: engine sft $*"
  engine sft --backend cpu --save-every 0 --out "$out/$name" "$@" | grep -E '^(LoRA|memory|target):'
  runs+=("$out/$name")
}
sft full-lr5e-4   --lr 5e-4
sft full-lr2e-3   --lr 2e-3
sft lora-r8-lr2e-3  --lora --lora-r 8  --lora-alpha 16  --lr 2e-3
sft lora-r8-lr1e-2  --lora --lora-r 8  --lora-alpha 16  --lr 1e-2
sft lora-r64-lr1e-3 --lora --lora-r 64 --lora-alpha 128 --lr 1e-3
sft lora-r64-lr5e-3 --lora --lora-r 64 --lora-alpha 128 --lr 5e-3
engine tradeoff "${runs[@]}" --out "$out"
