#!/usr/bin/env bash
# Guards refactors that must not change what training computes: trains each
# config below for 2 epochs with seed 1 with two builds of vae-train on this
# machine, on the same data, and compares the SHA-256 of every parameter of
# the final checkpoints, every epoch's train loss and every epoch's test loss.
#
#   bash bench/bitexact.sh OLD_BIN_DIR [NEW_BIN_DIR]   # NEW defaults to build/apps; exit 1 on a difference
#
# To get OLD_BIN_DIR for a commit:
#   git worktree add /tmp/base COMMIT && cmake -S /tmp/base -B /tmp/base/build -G Ninja \
#     -DVAE_BUILD_TESTS=OFF && cmake --build /tmp/base/build --target vae-train
#
# Float results depend on the CPU's kernels (AVX2 or AVX-512, OpenBLAS's
# choice), so only two builds run on the same machine in the same call can be
# compared bit for bit; there is no recorded reference to compare with.
# OpenBLAS's products are deterministic for a fixed thread count, so the runs
# use 2 BLAS threads wherever they run. About 4 minutes per build on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,9p "$0"; exit 2; }
OLD=$1 NEW=${2:-build/apps}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
CONFIGS=(mnist_vae mnist_vae_classic mnist_conv_vae mnist_denoising_ae mnist_cvae mnist_conv_cvae mnist_sparse_ae
         images)

# An image folder (the first 300 + 100 default digits as PNGs) for the image-folder source.
/usr/bin/python3 scripts/export-png-folder.py data/mnist "$OUT/folder" --limit 300 --class-names digits >/dev/null
sed -e "s|^dir = .*|dir = \"$OUT/folder\"|" -e 's|^image_size = .*|image_size = [16, 16]|' \
  configs/images_conv_vae.toml >"$OUT/images.toml"
export VAE_CACHE_DIR=$OUT/cache

for build in old new; do
  bin=$OLD; [ $build = new ] && bin=$NEW
  for c in "${CONFIGS[@]}"; do
    cfg=configs/$c.toml; [ "$c" = images ] && cfg=$OUT/images.toml
    "$bin/vae-train" --config "$cfg" --epochs 2 --seed 1 --blas-threads 2 --device cpu \
      --out-dir "$OUT/$build/$c" >"$OUT/$build-$c.log" 2>&1 || { cat "$OUT/$build-$c.log"; exit 1; }
  done
  /usr/bin/python3 - "$OUT/$build" "${CONFIGS[@]}" >"$OUT/$build.txt" <<'PY'
import hashlib, json, sys
import torch
out, configs = sys.argv[1], sys.argv[2:]
for c in configs:
    for line in open(f"{out}/{c}/metrics.jsonl"):
        m = json.loads(line)
        print(f"{c} epoch {m['epoch']} train_loss {m['train_loss']!r}")
        print(f"{c} epoch {m['epoch']} test_loss {m['test_loss']!r}")
    module = torch.jit.load(f"{out}/{c}/checkpoints/last.pt", map_location="cpu")
    for name, p in sorted(module.named_parameters()):
        if name.startswith("optimizer."):
            continue
        digest = hashlib.sha256(p.detach().contiguous().numpy().tobytes()).hexdigest()
        print(f"{c} param {name} {digest}")
PY
done

if diff -u "$OUT/old.txt" "$OUT/new.txt"; then
  echo "bitexact: train losses, test losses and $(grep -c ' param ' "$OUT/new.txt") parameters identical for ${CONFIGS[*]}"
else
  echo "bitexact: FAILED: $OLD and $NEW differ (above)"
  exit 1
fi
