#!/usr/bin/env bash
# Side by side on Larochelle's binarized MNIST: vae-train and the same
# recipes in Python PyTorch (bench/pytorch_iwae.py, Debian's python3-torch),
# seconds per training epoch, same batch, one thread each:
#   VAE  (configs/binarized_mnist_vae.toml):  784-400-40, batch 100, Adam 1e-4, k 1
#   IWAE (configs/binarized_mnist_iwae.toml): 784-200-200-50, batch 20, Adam 1e-3, k 50
#   VampPrior (binarized_mnist_vamp.toml): gated 784-300-300-40, K 500, batch 100, Adam 1e-4
#   two layers (binarized_mnist_vae2.toml, _iwae2.toml): 784-200-200-100 / 100-100-50 tanh,
#     batch 20, Adam 1e-3, k 1 and k 50
#   WAE-MMD, InfoVAE, RAE-GP, RAE-L2 (binarized_mnist_{wae,info_vae,rae_gp,rae_l2}.toml): 784-400-40 as the VAE
#   VQ-VAE (binarized_mnist_vq_vae.toml): 784-400-40 as 10 positions of 4, 64 codes, as the VAE
# Writes its section of docs/BENCHMARKS.md (zoo-speed).
#
#   bash bench/compare_python_zoo.sh              # every recipe
#   bash bench/compare_python_zoo.sh vamp iwae2   # some
#   EPOCHS=3 DATA=data/binarized_mnist bash bench/compare_python_zoo.sh
#
# EPOCHS: epochs per run (default 2). DATA: the folder of the .amat(.gz)
# files (default ../shared/data/binarized_mnist). NO_DOCS=1: leave
# docs/BENCHMARKS.md alone (the section goes to stdout only).
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-2}
DATA=${DATA:-../shared/data/binarized_mnist}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
[ -x build/apps/vae-train ] || { echo "bench/compare_python_zoo.sh: build/apps/vae-train is not built" >&2; exit 2; }
[ -d "$DATA" ] || { echo "bench/compare_python_zoo.sh: no data folder $DATA" >&2; exit 2; }
/usr/bin/python3 -c 'import torch' 2>/dev/null ||
  { echo "bench/compare_python_zoo.sh: /usr/bin/python3 has no torch (apt-get install python3-torch)" >&2; exit 2; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# recipe name, then pytorch_iwae.py's flags for it (the config's values)
declare -A PY_ARGS=(
  [vae]="--hidden 400 --latent 40 --batch-size 100 --lr 1e-4 --k 1"
  [iwae]="--hidden 200 200 --latent 50 --batch-size 20 --lr 1e-3 --k 50"
  [vamp]="--hidden 300 300 --latent 40 --batch-size 100 --lr 1e-4 --k 1 --vamp 500 --activation gated --bounded-log-var"
  [vae2]="--hidden 200 200 --latent 100 --top-hidden 100 100 --top-latent 50 --activation tanh --batch-size 20 --lr 1e-3 --k 1"
  [iwae2]="--hidden 200 200 --latent 100 --top-hidden 100 100 --top-latent 50 --activation tanh --batch-size 20 --lr 1e-3 --k 50"
  [wae]="--kind wae --hidden 400 --latent 40 --batch-size 100 --lr 1e-4 --mmd-weight 10"
  [info_vae]="--kind info_vae --hidden 400 --latent 40 --batch-size 100 --lr 1e-4 --mmd-weight 10"
  [rae_gp]="--kind rae_gp --hidden 400 --latent 40 --batch-size 100 --lr 1e-4 --rae-code-weight 1e-4 --rae-gp-weight 1e-3"
  [rae_l2]="--kind rae_l2 --hidden 400 --latent 40 --batch-size 100 --lr 1e-4 --rae-code-weight 1e-4 --rae-decoder-decay 1e-7"
  [vq_vae]="--kind vq_vae --hidden 400 --latent 40 --batch-size 100 --lr 1e-4 --code-dim 4 --codebook-size 64 --commitment 0.25 --restart-steps 100"
)
RECIPES=("$@")
[ ${#RECIPES[@]} -gt 0 ] || RECIPES=(vae iwae vamp vae2 iwae2 wae info_vae rae_gp rae_l2 vq_vae)
for m in "${RECIPES[@]}"; do
  [ -n "${PY_ARGS[$m]:-}" ] || { echo "bench/compare_python_zoo.sh: no recipe $m" >&2; exit 2; }
  echo "bench: C++ vae-train, $m, $EPOCHS epochs ($(date +%T))"
  build/apps/vae-train --config "configs/binarized_mnist_$m.toml" --data-dir "$DATA" --epochs "$EPOCHS" \
    --out-dir "$OUT/cpp-$m" --device cpu 2>"$OUT/cpp-$m.log" || { cat "$OUT/cpp-$m.log" >&2; exit 1; }
  echo "bench: Python PyTorch, $m, $EPOCHS epochs ($(date +%T))"
  # shellcheck disable=SC2086  # the flags split on purpose
  /usr/bin/python3 bench/pytorch_iwae.py --data-dir "$DATA" --epochs "$EPOCHS" --threads 1 ${PY_ARGS[$m]} \
    >"$OUT/py-$m.jsonl"
done

/usr/bin/python3 - "$OUT" "$EPOCHS" "${RECIPES[@]}" <<'PY' >"$OUT/section.md"
import json, os, platform, statistics, subprocess, sys
out, epochs = sys.argv[1], int(sys.argv[2])
read = lambda path: [json.loads(l) for l in open(path) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
ncpu = os.cpu_count()  # not nproc: OMP_NUM_THREADS=1 makes it say 1
med = lambda rows: statistics.median(r["seconds"] for r in rows)
recipes = [r for r in [
    ("vae", "VAE", "784-400-40", 100, "1e-4", 1),
    ("iwae", "IWAE", "784-200-200-50", 20, "1e-3", 50),
    ("vamp", "VampPrior K = 500", "784-300-300-40 gated, bounded log-variance", 100, "1e-4", 1),
    ("vae2", "two stochastic layers, ELBO", "784-200-200-100 / 100-100-50 tanh", 20, "1e-3", 1),
    ("iwae2", "two stochastic layers, IWAE", "784-200-200-100 / 100-100-50 tanh", 20, "1e-3", 50),
    ("wae", "WAE-MMD", "784-400-40", 100, "1e-4", 1),
    ("info_vae", "InfoVAE", "784-400-40", 100, "1e-4", 1),
    ("rae_gp", "RAE-GP", "784-400-40", 100, "1e-4", 1),
    ("rae_l2", "RAE-L2", "784-400-40", 100, "1e-4", 1),
    ("vq_vae", "VQ-VAE", "784-400-40 as 10 x 4 of 64 codes", 100, "1e-4", 1),
] if r[0] in sys.argv[3:]]
rows, info = [], None
for key, title, arch, batch, lr, k in recipes:
    cpp = read(os.path.join(out, f"cpp-{key}", "metrics.jsonl"))
    py_lines = read(os.path.join(out, f"py-{key}.jsonl"))
    info, py = py_lines[0], py_lines[1:]
    if len(cpp) != epochs or len(py) != epochs:
        sys.exit(f"{key}: {len(cpp)} C++ and {len(py)} Python epochs, expected {epochs}")
    rows.append((key, title, arch, batch, lr, k, cpp, py))
print("## Speed on binarized MNIST: vae-train against Python PyTorch\n")
print("Produced by `bash bench/compare_python_zoo.sh` on this state of the code. Machine:",
      f"{cpu}, {ncpu} cores, {platform.platform()}; LibTorch (Debian, OpenBLAS) for C++,",
      f"PyTorch {info['torch']} (Debian python3-torch, {info['threads']} intra-op thread) for Python;",
      "both with one thread (the configs' threads = 1 and blas_threads = 1;",
      "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1).\n")
print(f"Each recipe trains {epochs} epochs on Larochelle's binarized MNIST (50,000 train / 10,000 test),",
      "seed 1, with `build/apps/vae-train --config configs/binarized_mnist_X.toml --device cpu` and with",
      "`bench/pytorch_iwae.py` (the whole training set in one tensor, batches from a randperm).",
      "Seconds are training only (no evaluation), the median over the epochs. Test loss: the negative",
      "ELBO with one z per test image, nats per image, after the last epoch. The goal is C++ / Python",
      "at most 0.7.\n")
print("| recipe | model | batch | Adam lr | k | C++ s/epoch | Python s/epoch | C++ / Python | C++ test loss | Python test loss |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for key, title, arch, batch, lr, k, cpp, py in rows:
    c, p = med(cpp), med(py)
    print(f"| {title} (`configs/binarized_mnist_{key}.toml`) | {arch} | {batch} | {lr} | {k} |",
          f"{c:.2f} | {p:.2f} | {c / p:.2f} | {cpp[-1]['test_loss']:.2f} | {py[-1]['test_loss']:.2f} |")
print("\nPer-epoch seconds (C++ / Python):\n")
for key, title, arch, batch, lr, k, cpp, py in rows:
    pairs = "; ".join(f"{c['seconds']:.2f} / {p['seconds']:.2f}" for c, p in zip(cpp, py))
    print(f"- {title}: {pairs}. Last-epoch train loss: C++ {cpp[-1]['train_loss']:.2f},",
          f"Python {py[-1]['train_loss']:.2f}.")
PY
# NO_DOCS=1: print the section only (to compare a recipe without the others' rows).
[ -n "${NO_DOCS:-}" ] || python3 bench/put_section.py docs/BENCHMARKS.md zoo-speed <"$OUT/section.md"
cat "$OUT/section.md"
