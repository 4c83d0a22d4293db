# Train one epoch on generated data, then sample and encode with the result.
source "$(dirname "$0")/lib.sh"
"$MAKE_TEST_DATA" "$WORK/data" 600 150

cat >"$WORK/cfg.toml" <<TOML
[model]
hidden = [64]
latent = 2
[train]
batch_size = 64
epochs = 5
TOML
# The flag overrides the file's epochs.
"$VAE_BIN/vae-train" --config "$WORK/cfg.toml" --data-dir "$WORK/data" --out-dir "$WORK/run" \
  --epochs 1 --device cpu --seed 3 2>"$WORK/train.log"
cat "$WORK/train.log"
grep -q "epoch   1/1" "$WORK/train.log" || fail "no epoch line"
grep -q "BLAS" "$WORK/train.log" || fail "BLAS not reported at start-up"
for f in config.toml metrics.jsonl checkpoints/last.pt samples.png; do
  [ -s "$WORK/run/$f" ] || fail "missing $f"
done
grep -q '^epochs = 1$' "$WORK/run/config.toml" || fail "effective config lacks the override"
grep -q '^seed = 3$' "$WORK/run/config.toml" || fail "effective config lacks the seed"
[ "$(wc -l <"$WORK/run/metrics.jsonl")" -eq 1 ] || fail "metrics.jsonl should have 1 line"
for key in epoch train_loss test_loss test_bce test_kl seconds; do
  grep -q "\"$key\": " "$WORK/run/metrics.jsonl" || fail "metrics lacks $key"
done
is_png "$WORK/run/samples.png" || fail "samples.png is not a PNG"

"$VAE_BIN/vae-sample" --checkpoint "$WORK/run/checkpoints/last.pt" --num 10 --out "$WORK/s.png" --seed 5
is_png "$WORK/s.png" || fail "vae-sample wrote no PNG"
# 10 digits -> 4 columns x 3 rows of 28 px + 2 px padding: 122 x 92.
[ "$(od -An -tu1 -j16 -N8 "$WORK/s.png" | tr -s ' ')" = " 0 0 0 122 0 0 0 92" ] || fail "unexpected PNG size"
"$VAE_BIN/vae-sample" --checkpoint "$WORK/run/checkpoints/last.pt" --num 10 --out "$WORK/s2.png" --seed 5
cmp -s "$WORK/s.png" "$WORK/s2.png" || fail "same seed gave different samples"

"$VAE_BIN/vae-encode" --checkpoint "$WORK/run/checkpoints/last.pt" --data-dir "$WORK/data" \
  --split test --out "$WORK/z.csv"
[ "$(head -1 "$WORK/z.csv")" = "index,label,mu_0,mu_1" ] || fail "bad CSV header"
[ "$(wc -l <"$WORK/z.csv")" -eq 151 ] || fail "CSV should have 150 rows + header"
awk -F, 'NR>1 && (NF!=4 || $1!=NR-2 || $2<0 || $2>9) {exit 1}' "$WORK/z.csv" || fail "bad CSV rows"
# Without --data-dir the checkpoint's own data.dir is used.
"$VAE_BIN/vae-encode" --checkpoint "$WORK/run/checkpoints/last.pt" --split train --out "$WORK/t.csv"
[ "$(wc -l <"$WORK/t.csv")" -eq 601 ] || fail "train CSV should have 600 rows + header"
echo "e2e train/sample/encode passed"
