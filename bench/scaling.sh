#!/usr/bin/env bash
# Data-parallel scaling: builds, then runs bench/scaling.py (vae-train with
# 1, 2 and 4 processes against PyTorch DDP, side by side) and writes
# docs/SCALING.md. About 4 minutes per round on 2 cores.
#
#   bash bench/scaling.sh [ROUNDS] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cmake --build build --target vae-train >/dev/null
/usr/bin/python3 bench/scaling.py --rounds "${1:-1}" --epochs "${2:-2}"
