#!/usr/bin/env bash
# The likelihood models on the papers' benchmark, Larochelle's statically
# binarized MNIST (train 50,000, test 10,000): each config in configs/
# trained for its budget (or EPOCHS), then scored by vae-eval with the
# importance-weighted NLL (K = 5000, as pythae's table) on the test set.
# Writes the section of docs/ZOO.md between its markers and the curves
# docs/images/zoo_curves.png. Runs continue where they stopped
# (--auto-resume): run it again to train further.
#
#   bash bench/zoo.sh                       # the papers' budgets: days here
#   EPOCHS=100 bash bench/zoo.sh vae iwae   # a budget that fits, two models
#   DATA=data/binarized_mnist bash bench/zoo.sh
#
# DATA: the folder of the three .amat(.gz) files (default: ../shared's copy
# when present, else data/binarized_mnist, e.g. from
# `build/apps/vae-data fetch binarized-mnist --dir data/binarized_mnist`).
# IW: K of the final evaluation (default 5000). THREADS: BLAS threads.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-}
if [ -z "$DATA" ]; then
  DATA=data/binarized_mnist
  [ -d ../shared/data/binarized_mnist ] && DATA=../shared/data/binarized_mnist
fi
IW=${IW:-5000}
OUT=${OUT:-runs/zoo}
MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(vae iwae vamp vae2 iwae2)
mkdir -p "$OUT"
for m in "${MODELS[@]}"; do
  cfg=configs/binarized_mnist_$m.toml
  [ -f "$cfg" ] || { echo "bench/zoo.sh: no $cfg" >&2; exit 2; }
  args=(--config "$cfg" --data-dir "$DATA" --out-dir "$OUT/$m" --auto-resume --device cpu)
  [ -n "${EPOCHS:-}" ] && args+=(--epochs "$EPOCHS")
  [ -n "${THREADS:-}" ] && args+=(--blas-threads "$THREADS")
  echo "zoo: train $m ($(date +%T))"
  build/apps/vae-train "${args[@]}" 2>>"$OUT/$m.log"
  echo "zoo: evaluate $m, K = $IW ($(date +%T))"
  build/apps/vae-eval --checkpoint "$OUT/$m/checkpoints/last.pt" --data-dir "$DATA" --split test \
    --iw-samples "$IW" --out "$OUT/$m/eval_test.json" --device cpu >/dev/null 2>>"$OUT/$m.log"
done
/usr/bin/python3 bench/zoo_table.py "$OUT" "${MODELS[@]}"
