# No tool writes over what it reads: every output flag of vae-sample,
# vae-encode and vae-eval is refused, with one line and before anything is
# computed, when it names (through a link too) the checkpoint or its
# manifest, a file the run folder owns, a file of the data folder read, or a
# data file; the file is left as it was. A tool's own earlier output may be
# written again.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$MAKE_TEST_DATA" "$WORK/data" 200 40
printf '[model]\nhidden = [16]\nlatent = 2\n[train]\nbatch_size = 50\n' >"$WORK/cfg.toml"
"$VAE_BIN/vae-train" --config "$WORK/cfg.toml" --data-dir "$WORK/data" --out-dir "$WORK/run" --epochs 1 \
  --device cpu 2>/dev/null || fail "training"
CK="$WORK/run/checkpoints/last.pt"
ln -s "$CK" "$WORK/link.png"
echo '{"note": "mine"}' >"$WORK/data/notes.json"
cp "$WORK/data/t10k-labels-idx1-ubyte.gz" "$WORK/t10k-labels-idx1-ubyte.gz"  # a copy of a data file, elsewhere
# A NumPy data folder, as a user would point vae-encode at it.
mkdir "$WORK/npy"
$PY - "$WORK/npy" <<'PY'
import sys
import numpy as np
for split, n in (("train", 30), ("test", 10)):
    np.save(f"{sys.argv[1]}/{split}_images.npy", np.random.default_rng(1).integers(0, 256, (n, 28, 28), np.uint8))
    np.save(f"{sys.argv[1]}/{split}_labels.npy", np.arange(n, dtype=np.uint8) % 10)
PY
PROTECTED=("$CK" "$WORK/run/checkpoints/last.manifest.json" "$WORK/run/config.toml" "$WORK/run/metrics.jsonl"
           "$WORK/run/loss.png" "$WORK/data/notes.json" "$WORK/t10k-labels-idx1-ubyte.gz"
           "$WORK/npy/train_images.npy" "$WORK/npy/train_labels.npy")
sha256sum "${PROTECTED[@]}" >"$WORK/before.sha"

S="$VAE_BIN/vae-sample" E="$VAE_BIN/vae-encode" V="$VAE_BIN/vae-eval"
expect_error "refusing to write over the input $CK" "$S" --checkpoint "$CK" --num 4 --out "$CK"
expect_error "refusing to write over the input $CK" "$S" --checkpoint "$CK" --manifold --out "$CK"
expect_error "refusing to write over the input $CK" "$S" --checkpoint "$CK" --num 4 --out "$WORK/link.png"
expect_error "refusing to write over the input" "$S" --checkpoint "$CK" --out "$WORK/run/checkpoints/last.manifest.json"
expect_error "refusing to write over a file of the run folder" "$S" --checkpoint "$CK" --out "$WORK/run/checkpoints/best.png"
expect_error "refusing to write over the run folder's config.toml" "$S" --checkpoint "$CK" --out "$WORK/run/config.toml"
expect_error "refusing to write over the run folder's loss.png" "$S" --checkpoint "$CK" --manifold --out "$WORK/run/loss.png"
expect_error "refusing to write over a file of the data folder" "$S" --checkpoint "$CK" --interpolate 0,1 \
  --data-dir "$WORK/data" --out "$WORK/data/notes.json"
expect_error "refusing to write over a file of the data folder" "$S" --checkpoint "$CK" --num 4 \
  --out "$WORK/data/train-images-idx3-ubyte.gz"
expect_error "refusing to write over an IDX data file" "$S" --checkpoint "$CK" --num 4 \
  --out "$WORK/t10k-labels-idx1-ubyte.gz"
expect_error "refusing to write over a file of the data folder $WORK/npy" "$E" --checkpoint "$CK" \
  --data-dir "$WORK/npy" --split train --out "$WORK/npy/train_images.npy"
expect_error "refusing to write over a data set's NumPy array" "$E" --checkpoint "$CK" --split train \
  --out "$WORK/npy/train.npy"  # its labels would go to train_labels.npy
expect_error "refusing to write over the run folder's loss.png" "$E" --checkpoint "$CK" --plot "$WORK/run/loss.png"
expect_error "refusing to write over the input $CK" "$E" --checkpoint "$CK" --plot "$WORK/link.png"
expect_error "refusing to write over the run folder's metrics.jsonl" "$V" --checkpoint "$CK" --iw-samples 0 \
  --out "$WORK/run/metrics.jsonl"
expect_error "refusing to write over the run folder's config.toml" "$V" --checkpoint "$CK" --iw-samples 0 \
  --out "$WORK/run/config.toml"
expect_error "refusing to write over a file of the data folder" "$V" --checkpoint "$CK" --iw-samples 0 \
  --out "$WORK/data/notes.json"
sha256sum -c --quiet "$WORK/before.sha" || fail "a refused output changed an input"
[ ! -e "$WORK/npy/train_images_labels.npy" ] || fail "vae-encode wrote beside the data it refused"

# A tool's own outputs, in the run folder or elsewhere, may be written again.
for i in 1 2; do
  "$S" --checkpoint "$CK" --num 4 --out "$WORK/run/generated.png" 2>/dev/null || fail "vae-sample, run $i"
  "$E" --checkpoint "$CK" --out "$WORK/codes.npy" --plot "$WORK/run/latent.png" 2>/dev/null || fail "vae-encode, run $i"
  "$V" --checkpoint "$CK" --iw-samples 0 --out "$WORK/run/eval.json" >/dev/null 2>&1 || fail "vae-eval, run $i"
done
is_png "$WORK/run/generated.png" || fail "no sample grid"
echo "ok: no tool writes over what it reads"
