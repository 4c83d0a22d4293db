#!/usr/bin/env bash
# Guards refactors that must not change what training computes: trains five
# configs for 2 epochs with seed 1 and compares, with the record in
# bench/bitexact/reference.txt, the SHA-256 of every parameter of the final
# checkpoint and every epoch's train loss (exactly, as printed with 10
# significant digits), and each epoch's test loss.
#
#   bash bench/bitexact.sh            # compare with the record (exit 1 on a difference)
#   bash bench/bitexact.sh --record   # write the record from this build
#
# About 2 minutes on 2 cores. OpenBLAS's products are deterministic for a
# fixed thread count, so the runs use 2 BLAS threads wherever they run.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=bench/bitexact/reference.txt
BIN=${VAE_BIN:-build/apps}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
CONFIGS=(mnist_vae mnist_vae_classic mnist_conv_vae mnist_denoising_ae mnist_cvae)

for c in "${CONFIGS[@]}"; do
  "$BIN/vae-train" --config "configs/$c.toml" --epochs 2 --seed 1 --blas-threads 2 --device cpu \
    --out-dir "$OUT/$c" >"$OUT/$c.log" 2>&1 || { cat "$OUT/$c.log"; exit 1; }
done

/usr/bin/python3 - "$OUT" "${CONFIGS[@]}" >"$OUT/now.txt" <<'PY'
import hashlib, json, sys
import torch
out, configs = sys.argv[1], sys.argv[2:]
for c in configs:
    for line in open(f"{out}/{c}/metrics.jsonl"):
        m = json.loads(line)
        print(f"{c} epoch {m['epoch']} train_loss {m['train_loss']:.10g}")
        print(f"{c} epoch {m['epoch']} test_loss {m['test_loss']:.10g}")
    module = torch.jit.load(f"{out}/{c}/checkpoints/last.pt", map_location="cpu")
    for name, p in sorted(module.named_parameters()):
        if name.startswith("optimizer."):
            continue
        digest = hashlib.sha256(p.detach().contiguous().numpy().tobytes()).hexdigest()
        print(f"{c} param {name} {digest}")
PY

if [ "${1:-}" = "--record" ]; then
  mkdir -p "$(dirname "$REF")"
  cp "$OUT/now.txt" "$REF"
  echo "bitexact: recorded $(wc -l <"$REF") lines in $REF"
  exit 0
fi
[ -f "$REF" ] || { echo "bitexact: no record $REF (run with --record on the reference build)"; exit 1; }
if diff -u "$REF" "$OUT/now.txt" >"$OUT/diff.txt"; then
  echo "bitexact: train losses, test losses and $(grep -c ' param ' "$REF") parameters identical for ${CONFIGS[*]}"
else
  cat "$OUT/diff.txt"
  if grep -E '^[-+][a-z_]+ (param|epoch [0-9]+ train_loss)' "$OUT/diff.txt" >/dev/null; then
    echo "bitexact: FAILED: parameters or train losses differ from $REF"
    exit 1
  fi
  echo "bitexact: parameters and train losses identical; only test losses differ (above)"
fi
