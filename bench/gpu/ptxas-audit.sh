#!/usr/bin/env bash
# Static kernel audit without a GPU: every kernel's PTX (engine bench ptx, ISA 7.8) assembled by NVIDIA's ptxas 11.8 for sm_80 and
# sm_90; per kernel registers, stack, spills, shared memory, threads, H100 occupancy, and the SASS of the hot kernels' main loops.
# ptxas comes from Debian's nvidia-cuda-toolkit .deb (bookworm non-free, 84 MB), fetched once into a cache folder, never installed.
# Exit code 1 when a kernel is rejected or a hot kernel has a stack frame or local-memory traffic. Not part of .ci/run (it downloads).
# usage: bench/gpu/ptxas-audit.sh [--markdown FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${XDG_CACHE_HOME:-$HOME/.cache}/engine/cuda-11.8"
bin="$cache/root/usr/bin"

if [ ! -x "$bin/ptxas" ]; then
  echo "fetching ptxas (Debian bookworm non-free nvidia-cuda-toolkit) into $cache"
  mkdir -p "$cache/lists/partial" "$cache/archives/partial"
  echo "deb http://deb.debian.org/debian bookworm main contrib non-free" > "$cache/sources.list"
  apt_options=(-o "Dir::Etc::SourceList=$cache/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$cache/lists"
               -o "Dir::Cache=$cache" -o APT::Sandbox::User=root)
  apt-get -qq "${apt_options[@]}" update
  (cd "$cache" && apt-get -qq "${apt_options[@]}" download nvidia-cuda-toolkit)
  dpkg -x "$cache"/nvidia-cuda-toolkit_*.deb "$cache/root"
  rm -f "$cache"/nvidia-cuda-toolkit_*.deb
fi
"$bin/ptxas" --version | tail -1

ptx="$(mktemp -d)"
trap 'rm -rf "$ptx"' EXIT
dotnet build engine/cli/Engine.Cli.csproj -c Release -v quiet -nologo | grep -E " error " || true
dotnet engine/cli/bin/Release/net10.0/engine.dll bench ptx --isa 78 --out "$ptx"
python3 bench/gpu/ptxas_audit.py "$ptx" "$bin" "$@"
