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
for key in epoch train_loss test_loss test_recon test_kl seconds; do
  grep -q "\"$key\": " "$WORK/run/metrics.jsonl" || fail "metrics lacks $key"
done
is_png "$WORK/run/samples.png" || fail "samples.png is not a PNG"

# One evaluator: vae-eval's negative ELBO of the checkpoint is the run's last
# test_loss, to the last bit (both print the shortest exact decimal).
"$VAE_BIN/vae-eval" --checkpoint "$WORK/run/checkpoints/last.pt" --iw-samples 0 --out "$WORK/eval.json" >/dev/null
test_loss=$(tail -1 "$WORK/run/metrics.jsonl" | sed 's/.*"test_loss": *\([^,]*\),.*/\1/')
neg_elbo=$(sed 's/.*"neg_elbo": *\([^,]*\),.*/\1/' "$WORK/eval.json")
[ -n "$test_loss" ] && [ "$test_loss" = "$neg_elbo" ] || fail "vae-eval's neg_elbo $neg_elbo is not the run's test_loss $test_loss"
echo "ok: vae-eval neg_elbo $neg_elbo = last test_loss $test_loss"

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
# Per-epoch pictures, the 2-D manifold, an interpolation, and .npy output.
png_size() { od -An -tu1 -j16 -N8 "$1" | tr -s ' '; }
is_png "$WORK/run/images/recon-0001.png" || fail "no reconstruction grid"
is_png "$WORK/run/images/samples-0001.png" || fail "no per-epoch sample grid"
# 32 test images in rows of 8, each row followed by its reconstructions: 8 rows.
[ "$(png_size "$WORK/run/images/recon-0001.png")" = " 0 0 0 242 0 0 0 242" ] || fail "recon grid size"
"$VAE_BIN/vae-sample" --checkpoint "$WORK/run/checkpoints/last.pt" --manifold --grid 5 --out "$WORK/m.png"
[ "$(png_size "$WORK/m.png")" = " 0 0 0 140 0 0 0 140" ] || fail "manifold should be 5 x 28 px square"
"$VAE_BIN/vae-sample" --checkpoint "$WORK/run/checkpoints/last.pt" --interpolate 0,1 --steps 6 \
  --data-dir "$WORK/data" --out "$WORK/i.png"
[ "$(png_size "$WORK/i.png")" = " 0 0 0 242 0 0 0 32" ] || fail "interpolation should be 8 images in a row"
expect_error "the test split of" "$VAE_BIN/vae-sample" --checkpoint "$WORK/run/checkpoints/last.pt" \
  --interpolate 0,150 --data-dir "$WORK/data" --out "$WORK/i.png"
"$VAE_BIN/vae-encode" --checkpoint "$WORK/run/checkpoints/last.pt" --data-dir "$WORK/data" --out "$WORK/z.npy"
head -c 120 "$WORK/z.npy" | grep -aq "'descr': '<f4', 'fortran_order': False, 'shape': (150, 2)" || fail "bad .npy header"
head -c 120 "$WORK/z_labels.npy" | grep -aq "'descr': '<i8', 'fortran_order': False, 'shape': (150,)" || fail "bad labels .npy"
[ "$(stat -c %s "$WORK/z.npy")" -eq $((128 + 150 * 2 * 4)) ] || fail ".npy size"
# The loss curve and the latent scatter plot (cairo), at their documented sizes.
is_png "$WORK/run/loss.png" || fail "no loss plot"
[ "$(png_size "$WORK/run/loss.png")" = " 0 0 3 32 0 0 2 48" ] || fail "loss plot should be 800 x 560"
grep -q "loss plot  .*loss.png" "$WORK/train.log" || fail "the log does not say where the loss plot is"
"$VAE_BIN/vae-encode" --checkpoint "$WORK/run/checkpoints/last.pt" --data-dir "$WORK/data" --plot "$WORK/z.png"
[ "$(png_size "$WORK/z.png")" = " 0 0 3 72 0 0 2 168" ] || fail "latent plot should be 840 x 680"
expect_error "nothing to write" "$VAE_BIN/vae-encode" --checkpoint "$WORK/run/checkpoints/last.pt"

# vae-eval: the IW estimate is a tighter bound than the ELBO.
"$VAE_BIN/vae-eval" --checkpoint "$WORK/run/checkpoints/last.pt" --data-dir "$WORK/data" --iw-samples 50 \
  --out "$WORK/eval.json" >/dev/null
python3 - "$WORK/eval.json" <<'PY' || fail "vae-eval output: $(cat "$WORK/eval.json")"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["images"] == 150 and e["iw_samples"] == 50, e
assert 0 < e["nll_iw"] < e["neg_elbo"], e
assert abs(e["neg_elbo"] - e["recon"] - e["kl"]) < 1e-3, e
assert 0 <= e["active_units"] <= e["latent"] == 2, e
assert e["noise"] == "gaussian" and e["noise_level"] == 0.5, e  # the checkpoint's data.noise
assert 0 < e["code_recon"] < 1e4 and 0 < e["noisy_recon"] < 1e4, e
PY

# A 20-D model has no manifold to draw.
"$VAE_BIN/vae-train" --config "$VAE_SOURCE_DIR/configs/mnist_vae_classic.toml" --data-dir "$WORK/data" \
  --out-dir "$WORK/run20" --epochs 1 --device cpu 2>/dev/null
expect_error "needs a 2-D latent space" "$VAE_BIN/vae-sample" --checkpoint "$WORK/run20/checkpoints/last.pt" --manifold --out "$WORK/x.png"
echo "e2e train/sample/encode passed"
