#!/usr/bin/env bash
# Training speed of two builds of vae-train side by side, interleaved over
# rounds on the same machine: seconds per epoch (the median over rounds of
# each run's mean epoch time) for the fused MLP step, the autograd MLP step
# and the conv VAE. For refactors that must not slow training down.
#
#   bash bench/compare_builds.sh OLD_VAE_TRAIN NEW_VAE_TRAIN [ROUNDS] > docs/BUILD_COMPARISON.md
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1 NEW=$2 ROUNDS=${3:-3}
FASHION=/usr/share/datasets/fashion-mnist
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
sed 's/^\[train\]/[train]\nfused_step = false/' configs/fashion_mnist_vae_classic.toml >"$OUT/autograd.toml"
# name|config|epochs|extra flags
CASES=("fused 784-400-20, Fashion-MNIST|configs/fashion_mnist_vae_classic.toml|2|--data-dir $FASHION"
       "autograd 784-400-20, Fashion-MNIST|$OUT/autograd.toml|2|--data-dir $FASHION"
       "conv VAE, default data|configs/mnist_conv_vae.toml|1|")
for r in $(seq "$ROUNDS"); do
  for c in "${CASES[@]}"; do
    IFS='|' read -r name cfg epochs extra <<<"$c"
    for build in old new; do
      bin=$OLD; [ "$build" = new ] && bin=$NEW
      dir="$OUT/$build-$r-${name%% *}"
      # shellcheck disable=SC2086
      "$bin" --config "$cfg" --epochs "$epochs" --out-dir "$dir" --device cpu $extra >/dev/null 2>&1
      python3 -c "import json,sys; s=[json.loads(l)['seconds'] for l in open('$dir/metrics.jsonl')]; print(sum(s)/len(s))" \
        >>"$OUT/$build-${name%% *}.txt"
      rm -rf "$dir"
    done
  done
  echo "compare_builds: round $r of $ROUNDS done" >&2
done
echo "# Training speed of two builds, side by side"
echo
echo "\`bash bench/compare_builds.sh $OLD $NEW $ROUNDS\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), $(date -u +%Y-%m-%d)."
echo "Each case trains both builds one after the other in every round; a run's seconds are its mean"
echo "training time per epoch (no evaluation), and the table gives the median over the rounds."
echo
echo "| case | old build, s/epoch | new build, s/epoch | new / old |"
echo "|---|---:|---:|---:|"
for c in "${CASES[@]}"; do
  IFS='|' read -r name _ _ _ <<<"$c"
  python3 - "$name" "$OUT/old-${name%% *}.txt" "$OUT/new-${name%% *}.txt" <<'PY'
import statistics, sys
old = statistics.median(float(x) for x in open(sys.argv[2]))
new = statistics.median(float(x) for x in open(sys.argv[3]))
print(f"| {sys.argv[1]} | {old:.3f} | {new:.3f} | {new / old:.3f} |")
PY
done
