#!/usr/bin/env bash
# CPU benchmark: builds, then runs vae-train, the Python peers and the GEMM
# floor side by side, and writes docs/BENCHMARKS.md (bench/cpu_bench.py says
# how). About 6 minutes on 2 cores.
#
#   bash bench/cpu.sh [ROUNDS] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
EPOCHS=${2:-2}
DATA=/usr/share/datasets/fashion-mnist
bash scripts/setup.sh >/dev/null
cmake --build build -j2 --target vae-train vae-encode vae-bench >/dev/null
# The Python peers: Debian's PyTorch and torchvision (the example's loop).
if ! /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch python3-torchvision >/dev/null
fi
# torchvision reads uncompressed files from ROOT/FashionMNIST/raw/.
TV=$(mktemp -d)
trap 'rm -rf "$TV"' EXIT
mkdir -p "$TV/FashionMNIST/raw"
for f in "$DATA"/*.gz; do gunzip -c "$f" >"$TV/FashionMNIST/raw/$(basename "$f" .gz)"; done
/usr/bin/python3 bench/cpu_bench.py --data "$DATA" --torchvision-root "$TV" --rounds "$ROUNDS" --epochs "$EPOCHS"
