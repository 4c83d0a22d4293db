#!/usr/bin/env bash
# The numbers papers report, for the default configs: trains each one from
# scratch, then runs vae-eval on its test split (negative ELBO with its terms,
# importance-weighted NLL with K samples, active units). Writes its section of
# docs/RESULTS.md; the runs stay in runs/bench/.
#
#   bash bench/evaluate.sh [K]        # K = 5000 by default (about 10 min here)
set -euo pipefail
cd "$(dirname "$0")/.."
K=${1:-5000}
bash scripts/setup.sh >/dev/null
bash scripts/prepare-data.sh >/dev/null
BIN=build/apps
OUT=runs/bench
mkdir -p "$OUT"

# name | config | extra vae-train flags
RUNS=(
  "mnist_vae|configs/mnist_vae.toml|"
  "fashion_mnist_vae_classic|configs/fashion_mnist_vae_classic.toml|"
  "mnist_vae_classic_dynamic|configs/mnist_vae_classic.toml|--binarize dynamic"
)
for row in "${RUNS[@]}"; do
  IFS='|' read -r name config extra <<<"$row"
  echo "bench: train $name ($config $extra)"
  # shellcheck disable=SC2086
  "$BIN/vae-train" --config "$config" --out-dir "$OUT/$name" --force --device cpu $extra 2>"$OUT/$name.train.log"
  echo "bench: vae-eval $name, K=$K"
  "$BIN/vae-eval" --checkpoint "$OUT/$name/checkpoints/last.pt" --split test --iw-samples "$K" \
    --device cpu --out "$OUT/$name.eval.json" 2>"$OUT/$name.eval.log"
done

# The table goes to a file first: a failure must not replace the section with half a table.
/usr/bin/python3 - "$K" "$OUT" "${RUNS[@]}" <<'PY' >"$OUT/eval-section.md"
import json, platform, subprocess, sys
k, out, rows = sys.argv[1], sys.argv[2], sys.argv[3:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
ncpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print("## Evaluation: negative ELBO, importance-weighted NLL, active units\n")
print(f"Produced by `bash bench/evaluate.sh {k}` on this state of the code ({cpu}, {ncpu} cores,",
      "LibTorch 1.13.1 with OpenBLAS, CPU). Each config is trained from scratch with its own settings",
      "(10 epochs, seed 1), then evaluated on its test split:\n")
print("    vae-eval --checkpoint runs/bench/NAME/checkpoints/last.pt --split test "
      f"--iw-samples {k} --device cpu --out runs/bench/NAME.eval.json\n")
print("Nats per image. The negative ELBO draws one z per image; the IW NLL is the estimator of",
      "Burda et al. (2016) with K samples from q(z|x); a latent unit is active when the variance of its",
      "posterior mean over the test images exceeds 0.01. The data are grey levels in [0, 1]",
      "(`data.binarize = none`) except in the last row, so only that row is on the scale of",
      "binarized-MNIST papers (there the test digits are one fixed Bernoulli draw, and the model saw",
      "9,000 training digits, not 60,000).\n")
print("| config | data | test images | -ELBO | recon (BCE) | KL | IW NLL | K | active units | eval seconds |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for row in rows:
    name, config, extra = row.split("|")
    e = json.load(open(f"{out}/{name}.eval.json"))
    cfg = f"`{config}`" + (f" `{extra}`" if extra else "")
    print(f"| {cfg} | `{e['data_dir']}` | {e['images']:,} | {e['neg_elbo']:.2f} | {e['recon']:.2f} |",
          f"{e['kl']:.2f} | {'-' if e['nll_iw'] is None else format(e['nll_iw'], '.2f')} | {e['iw_samples']} |",
          f"{e['active_units']}/{e['latent']} |",
          f"{e['seconds']:.0f} |")
PY
/usr/bin/python3 bench/put_section.py docs/RESULTS.md eval <"$OUT/eval-section.md"
echo "bench: wrote docs/RESULTS.md (section eval)"
