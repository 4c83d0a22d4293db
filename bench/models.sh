#!/usr/bin/env bash
# Every model kind on the default data, each from its config in configs/:
# test loss and its terms, mean code activation, the denoising error, and
# seconds per epoch. Writes docs/MODELS.md; the runs stay in runs/models/.
#
#   bash bench/models.sh      # about 10 minutes here (the conv models take 8 s an epoch)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
bash scripts/prepare-data.sh >/dev/null
OUT=runs/models
mkdir -p "$OUT"
CONFIGS=(mnist_vae mnist_beta_vae mnist_cvae mnist_ae mnist_sparse_ae mnist_denoising_ae
         mnist_conv_vae mnist_conv_cvae mnist_conv_ae mnist_conv_sparse_ae mnist_conv_denoising_ae)
for c in "${CONFIGS[@]}"; do
  echo "bench: train $c"
  build/apps/vae-train --config "configs/$c.toml" --out-dir "$OUT/$c" --force --device cpu 2>"$OUT/$c.log"
  # Reconstruction errors of clean and noisy test digits (the Keras post's
  # Gaussian noise, factor 0.5), the same for every kind.
  build/apps/vae-eval --checkpoint "$OUT/$c/checkpoints/last.pt" --iw-samples 0 --noise gaussian \
    --noise-level 0.5 --out "$OUT/$c/eval.json" --device cpu >/dev/null 2>>"$OUT/$c.log"
done
/usr/bin/python3 - "$OUT" "${CONFIGS[@]}" <<'PY' >"$OUT/MODELS.md"
import json, platform, statistics, subprocess, sys, tomllib
out, names = sys.argv[1], sys.argv[2:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
ncpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print("# The autoencoder family, measured\n")
print(f"Produced by `bash bench/models.sh` on this state of the code ({cpu}, {ncpu} cores, LibTorch 1.13.1",
      "with OpenBLAS, CPU). Each row is `vae-train --config configs/NAME.toml` on the default data",
      "(9,000 training and 1,000 test MNIST digits), 10 epochs, seed 1; numbers are from the last epoch's",
      "`metrics.jsonl` line, in nats per test image.\n")
print("- **test loss**: the negative ELBO (recon + KL) for the VAEs, the reconstruction term alone for the",
      "autoencoders; for the denoising autoencoder it is the error on test digits corrupted by its noise",
      "(Gaussian, factor 0.5, clipped), against the clean digits.")
print("- **mean |code|**: the mean absolute activation of the code (the posterior mean for the VAEs) over the",
      "test digits and the code units.")
print("- **code error** and **denoising error**: `vae-eval --iw-samples 0 --noise gaussian --noise-level 0.5`:",
      "the reconstruction error (nats per image) decoded from the code (a VAE's posterior mean) of each clean",
      "test digit, and of the same digit with Gaussian noise (factor 0.5, clipped to [0, 1]), both scored",
      "against the clean digit.")
print("- **s/epoch**: median training seconds per epoch.\n")
print("The sparse autoencoder uses the Keras post's L1 weight (1e-5 on the mean BCE per pixel); a larger",
      "`loss.l1_weight` makes the code sparser still (CTest `Kinds.SparseCodesAreSparserAndDenoisingDenoises`",
      "uses 4e-3 on generated data: mean |code| 0.17 against the plain autoencoder's 0.90). The",
      "conditional VAEs see each digit's label: their test loss is -log p(x | y) bounded, not -log p(x), so",
      "it is lower than the unconditional VAE's. CTest `Conditional.GeneratedDigitsAreTheDigitsAskedFor`",
      "checks that digits generated for label D look like D to a nearest-neighbour classifier.\n")
print("| config | kind | layers | test loss | recon | KL | mean \\|code\\| | code error | denoising error | s/epoch |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for n in names:
    rows = [json.loads(l) for l in open(f"{out}/{n}/metrics.jsonl")]
    cfg = tomllib.load(open(f"{out}/{n}/config.toml", "rb"))
    m = cfg["model"]
    convs = ["conv32", "conv64"] if m.get("arch") == "conv" else []
    layers = "-".join(str(x) for x in [m["image_height"] * m["image_width"], *convs, *m["hidden"], m["latent"]])
    r = rows[-1]
    kind = m["kind"] + (f" (beta {cfg['loss']['beta']:g})" if m["kind"] == "vae" and cfg["loss"]["beta"] != 1 else "")
    kind += " (conditional)" if m.get("conditional") else ""
    e = json.load(open(f"{out}/{n}/eval.json"))
    print(f"| `configs/{n}.toml` | {kind} | {layers} | {r['test_loss']:.2f} | {r['test_recon']:.2f} |",
          f"{r['test_kl']:.2f} | {r['test_code_abs']:.4f} | {e['code_recon']:.2f} | {e['noisy_recon']:.2f} |",
          f"{statistics.median(x['seconds'] for x in rows):.2f} |")
PY
mv "$OUT/MODELS.md" docs/MODELS.md
echo "bench: wrote docs/MODELS.md"
