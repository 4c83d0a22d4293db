# Training on NumPy arrays: a folder of train_images.npy / test_images.npy
# (+ labels) is found by data.format = "auto" and trains to the same weights
# as the same images in IDX files; float32 arrays in [0, 1] too; vae-encode
# reads such a folder; bad arrays get one line naming the file.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c 'import numpy' || fail "python3-numpy is missing: run scripts/setup.sh"
T="$VAE_BIN/vae-train"
"$MAKE_TEST_DATA" "$WORK/idx" 300 60
$PY - "$WORK" <<'PY'
import gzip, struct, sys
import numpy as np
work = sys.argv[1]
def idx(path):
    data = gzip.open(path).read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)
import os
for d in ("u8", "f32", "bad"):
    os.makedirs(f"{work}/{d}")
for split, stem in (("train", "train"), ("test", "t10k")):
    x = idx(f"{work}/idx/{stem}-images-idx3-ubyte.gz")
    y = idx(f"{work}/idx/{stem}-labels-idx1-ubyte.gz")
    np.save(f"{work}/u8/{split}_images.npy", x)
    np.save(f"{work}/u8/{split}_labels.npy", y.astype(np.int64))
    np.save(f"{work}/f32/{split}_images.npy", (x.astype(np.float32) / 255)[..., None])  # (N, H, W, 1)
np.save(f"{work}/bad/train_images.npy", np.asfortranarray(np.zeros((4, 28, 28), np.uint8)))
PY
ARGS=(--epochs 1 --batch-size 50 --device cpu)
"$T" "${ARGS[@]}" --data-dir "$WORK/idx" --out-dir "$WORK/r-idx" 2>"$WORK/log" || { cat "$WORK/log"; fail "IDX run"; }
"$T" "${ARGS[@]}" --data-dir "$WORK/u8" --out-dir "$WORK/r-u8" 2>"$WORK/log" || { cat "$WORK/log"; fail "uint8 .npy run"; }
grep -q "(NumPy arrays)" "$WORK/log" || fail "data.format auto did not say it found NumPy arrays"
"$T" "${ARGS[@]}" --data-dir "$WORK/f32" --out-dir "$WORK/r-f32" 2>"$WORK/log" || { cat "$WORK/log"; fail "float32 .npy run"; }
for r in r-u8 r-f32; do
  $PY "$VAE_SOURCE_DIR/tests/e2e/compare_params.py" "$WORK/r-idx/checkpoints/last.pt" "$WORK/$r/checkpoints/last.pt" 0 \
    || fail "$r trained other weights than the same images in IDX files"
done
"$VAE_BIN/vae-encode" --checkpoint "$WORK/r-u8/checkpoints/last.pt" --out "$WORK/codes.csv" 2>"$WORK/log" \
  || { cat "$WORK/log"; fail "vae-encode on the .npy run"; }
[ "$(wc -l <"$WORK/codes.csv")" -eq 61 ] || fail "vae-encode wrote $(wc -l <"$WORK/codes.csv") lines, expected 61"
expect_error "bad/train_images.npy: the array is in Fortran order" "$T" "${ARGS[@]}" --data-dir "$WORK/bad" --out-dir "$WORK/r-bad"
expect_error "missing train-images-idx3-ubyte" "$T" "${ARGS[@]}" --data-dir "$WORK/u8" --data-format idx --out-dir "$WORK/r-x"
# What is not a regular file is refused before it is opened: a link to
# /dev/zero would be read without end, a FIFO without a writer would block.
for kind in zero fifo; do
  mkdir "$WORK/$kind"
  cp "$WORK/u8/"*labels.npy "$WORK/u8/test_images.npy" "$WORK/$kind/"
  if [ $kind = zero ]; then ln -s /dev/zero "$WORK/$kind/train_images.npy"; else mkfifo "$WORK/$kind/train_images.npy"; fi
  expect_error "$kind/train_images.npy: not a regular file" timeout 30 "$T" "${ARGS[@]}" --data-dir "$WORK/$kind" \
    --data-format npy --out-dir "$WORK/r-$kind"
done
mkdir "$WORK/zero-idx" && cp "$WORK/idx/"* "$WORK/zero-idx/" && rm "$WORK/zero-idx/train-images-idx3-ubyte.gz"
ln -s /dev/zero "$WORK/zero-idx/train-images-idx3-ubyte.gz"
expect_error "train-images-idx3-ubyte.gz: not a regular file" timeout 30 "$T" "${ARGS[@]}" --data-dir "$WORK/zero-idx" \
  --out-dir "$WORK/r-zero-idx"
echo "npy: all checks passed"
