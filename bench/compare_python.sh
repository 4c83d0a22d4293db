#!/usr/bin/env bash
# Side by side: vae-train and the same recipe in Python PyTorch (Debian's
# python3-torch), 784-400-20 VAE, BCE sum + KL, Adam 1e-3, batch 128,
# 10 epochs, on the same Fashion-MNIST files. Writes its section of
# docs/RESULTS.md.
#
#   bash bench/compare_python.sh [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-10}
DATA=/usr/share/datasets/fashion-mnist
bash scripts/setup.sh >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "bench: C++ vae-train, $EPOCHS epochs"
build/apps/vae-train --config configs/fashion_mnist_vae_classic.toml --data-dir "$DATA" \
  --epochs "$EPOCHS" --out-dir "$OUT/cpp" --device cpu 2>"$OUT/cpp.log"
echo "bench: Python PyTorch, $EPOCHS epochs"
/usr/bin/python3 bench/pytorch_vae.py --data-dir "$DATA" --epochs "$EPOCHS" --hidden 400 --latent 20 \
  >"$OUT/py.jsonl"

/usr/bin/python3 - "$OUT/cpp/metrics.jsonl" "$OUT/py.jsonl" "$EPOCHS" <<'PY' >"$OUT/section.md"
import json, platform, statistics, subprocess, sys
cpp = [json.loads(l) for l in open(sys.argv[1])]
py_lines = [json.loads(l) for l in open(sys.argv[2])]
info, py = py_lines[0], py_lines[1:]
epochs = int(sys.argv[3])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
ncpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
med = lambda rows: statistics.median(r["seconds"] for r in rows)
print("## Training: vae-train against Python PyTorch\n")
print("Produced by `bash bench/compare_python.sh` on this state of the code. Machine:",
      f"{cpu}, {ncpu} cores, {platform.platform()}; LibTorch 1.13.1 (Debian, OpenBLAS) for C++,",
      f"PyTorch {info['torch']} (Debian python3-torch, {info['threads']} intra-op thread) for Python.\n")
print(f"Recipe: `configs/fashion_mnist_vae_classic.toml`: 784-400-20 VAE, BCE(sum) + KL, Adam 1e-3,",
      f"batch 128, {epochs} epochs, seed 1, on Debian's Fashion-MNIST (60,000 train / 10,000 test).",
      "Python holds the data in one tensor and batches from a randperm (`bench/pytorch_vae.py`).",
      "Losses are nats per image; test loss draws one z per test image in both.\n")
print("| epoch | C++ train | C++ test | Python train | Python test |")
print("|---:|---:|---:|---:|---:|")
for c, p in zip(cpp, py):
    print(f"| {c['epoch']} | {c['train_loss']:.2f} | {c['test_loss']:.2f} | {p['train_loss']:.2f} | {p['test_loss']:.2f} |")
d = cpp[-1]["test_loss"] - py[-1]["test_loss"]
print(f"\nFinal test loss: C++ {cpp[-1]['test_loss']:.2f}, Python {py[-1]['test_loss']:.2f}",
      f"(difference {d:+.2f} nats per image; the target is within 2).\n")
print("| | median seconds per training epoch |")
print("|---|---:|")
print(f"| C++ vae-train | {med(cpp):.2f} |")
print(f"| Python, in-memory loop | {med(py):.2f} |")
print(f"\nRatio C++ / Python: {med(cpp) / med(py):.2f}.")
PY
/usr/bin/python3 bench/put_section.py docs/RESULTS.md python <"$OUT/section.md"
cat docs/RESULTS.md
