#!/usr/bin/env bash
# The main job: set up, train the guide's VAE (configs/mnist_vae.toml) on the
# default data, generate digits and dump the test set's latent means.
# A finished run is kept: the second call only re-samples and re-encodes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/prepare-data.sh

RUN=runs/mnist_vae
BIN=build/apps
if [ -f "$RUN/samples.png" ] && [ -f "$RUN/checkpoints/last.pt" ]; then
  echo "run-default: $RUN already holds a finished run (rm -rf $RUN to train again)"
elif [ -f "$RUN/checkpoints/last.pt" ]; then
  # samples.png is written last: an earlier run was interrupted. Continue it.
  "$BIN/vae-train" --resume "$RUN"
else
  "$BIN/vae-train" --config configs/mnist_vae.toml --out-dir "$RUN"
fi
"$BIN/vae-sample" --checkpoint "$RUN/checkpoints/last.pt" --num 100 --seed 0 --out "$RUN/generated.png"
"$BIN/vae-sample" --checkpoint "$RUN/checkpoints/last.pt" --manifold --grid 20 --out "$RUN/manifold.png"
"$BIN/vae-encode" --checkpoint "$RUN/checkpoints/last.pt" --split test --out "$RUN/latent_test.csv" \
  --plot "$RUN/latent_test.png"

cat <<MSG

Outputs of the guide's VAE (784-512-256-2) on data/mnist:
  $RUN/generated.png        100 generated digits
  $RUN/manifold.png         digits decoded over a 20 x 20 grid of the 2-D latent space
  $RUN/images/              per epoch: test digits above their reconstructions, and samples
  $RUN/latent_test.csv      latent means of the 1,000 test digits (index,label,mu_0,mu_1)
  $RUN/latent_test.png      those means as a scatter plot coloured by digit
  $RUN/loss.png             train and test loss per epoch
  $RUN/samples.png          64 digits sampled at the end of training
  $RUN/metrics.jsonl        per-epoch train/test loss (nats per image)
  $RUN/checkpoints/last.pt  weights + optimizer state + config
  $RUN/config.toml          the effective config
MSG
