# Training on a folder of image files: class folders become named labels,
# images of other sizes and modes are resized and converted, the decoded
# pixels are cached (a second run trains bit-identically from the cache),
# pictures are in colour, vae-sample takes a class by name, vae-encode
# writes paths, and bad files are named (or skipped and listed).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c 'import PIL' || fail "python3-pil is missing: run scripts/setup.sh"
export VAE_CACHE_DIR="$WORK/cache"
T="$VAE_BIN/vae-train"
$PY - "$WORK/shapes" <<'PY'
# Three classes of coloured shapes on a light background, 20x24 pixels
# (resized to 16x16 by the config), some RGBA and some grey.
import os, random, sys
from PIL import Image, ImageDraw
root = sys.argv[1]
rng = random.Random(7)
for cls in ("circle", "square", "triangle"):
    os.makedirs(f"{root}/train/{cls}")
    for i in range(40):
        im = Image.new("RGB", (24, 20), (240, 240, 230))
        d = ImageDraw.Draw(im)
        x, y, s = rng.randint(2, 8), rng.randint(2, 6), rng.randint(8, 12)
        col = {"circle": (200, 30, 30), "square": (30, 160, 40), "triangle": (40, 60, 200)}[cls]
        if cls == "circle": d.ellipse([x, y, x + s, y + s], fill=col)
        elif cls == "square": d.rectangle([x, y, x + s, y + s], fill=col)
        else: d.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=col)
        if i % 10 == 3: im = im.convert("L")
        if i % 10 == 5: im = im.convert("RGBA")
        im.save(f"{root}/train/{cls}/{i:03d}.png")
PY
CFG="$WORK/shapes.toml"
cat >"$CFG" <<TOML
[data]
dir = "$WORK/shapes"
image_size = [16, 16]
channels = 3
test_fraction = 0.1
[model]
arch = "conv"
hidden = [64]
latent = 4
conditional = true
[train]
epochs = 2
batch_size = 16
device = "cpu"
out_dir = "$WORK/r1"
TOML
"$T" --config "$CFG" 2>"$WORK/log" || { cat "$WORK/log"; fail "training on an image folder"; }
grep -q "decoded 120 files" "$WORK/log" || { cat "$WORK/log"; fail "no line saying the 120 files were decoded"; }
grep -q "converted to colour" "$WORK/log" || fail "the grey images were not counted as converted"
grep -q '^class_names = \["circle", "square", "triangle"\]' "$WORK/r1/config.toml" || fail "class names not in config.toml"
grep -q '^image_channels = 3' "$WORK/r1/config.toml" || fail "image_channels not taken from the data"
grep -q '^classes = 3' "$WORK/r1/config.toml" || fail "model.classes not taken from the class folders"
[ "$(wc -l <"$WORK/r1/test_files.txt")" -eq 12 ] || fail "expected 12 test files (10% of 40 per class), got $(wc -l <"$WORK/r1/test_files.txt")"
# Colour pictures: PNG colour type 2 (RGB) at byte 25.
for f in samples.png images/recon-0002.png; do
  is_png "$WORK/r1/$f" || fail "$f is not a PNG"
  [ "$(od -An -tu1 -j25 -N1 "$WORK/r1/$f" | tr -d ' ')" = 2 ] || fail "$f is not an RGB PNG"
done
# The second run decodes nothing and trains to the same weights.
sed -i "s|$WORK/r1|$WORK/r2|" "$CFG"
"$T" --config "$CFG" 2>"$WORK/log" || { cat "$WORK/log"; fail "second run"; }
grep -q "loaded from the cache" "$WORK/log" || { cat "$WORK/log"; fail "the second run did not use the cache"; }
$PY "$VAE_SOURCE_DIR/tests/e2e/compare_params.py" "$WORK/r1/checkpoints/last.pt" "$WORK/r2/checkpoints/last.pt" 0 \
  || fail "the cached run trained other weights"
# Resume: the shape and classes come from the checkpoint.
"$T" --resume "$WORK/r1" --epochs 3 2>"$WORK/log" || { cat "$WORK/log"; fail "resume of an image-folder run"; }
# A class by name; a wrong name lists the classes.
"$VAE_BIN/vae-sample" --checkpoint "$WORK/r1/checkpoints/last.pt" --out "$WORK/sq.png" --label square --num 8 \
  2>"$WORK/log" >"$WORK/out" || { cat "$WORK/log"; fail "vae-sample --label square"; }
grep -q "of class 1 (square)" "$WORK/out" "$WORK/log" || fail "vae-sample did not say it drew class 1 (square)"
expect_error "its classes: circle, square, triangle" \
  "$VAE_BIN/vae-sample" --checkpoint "$WORK/r1/checkpoints/last.pt" --out "$WORK/x.png" --label hexagon
# Latent codes with the paths of every image.
"$VAE_BIN/vae-encode" --checkpoint "$WORK/r1/checkpoints/last.pt" --split all --out "$WORK/codes.csv" 2>"$WORK/log" \
  || { cat "$WORK/log"; fail "vae-encode --split all"; }
head -1 "$WORK/codes.csv" | grep -q '^index,path,label,mu_0,mu_1,mu_2,mu_3$' || fail "header: $(head -1 "$WORK/codes.csv")"
[ "$(wc -l <"$WORK/codes.csv")" -eq 121 ] || fail "expected 120 rows of codes"
sed -n 2p "$WORK/codes.csv" | grep -q '^0,train/circle/[0-9]*\.png,0,' || fail "row 1: $(sed -n 2p "$WORK/codes.csv")"
# A bad file stops the run before training, naming it; skip trains on the rest.
cp -r "$WORK/shapes" "$WORK/bad"
printf 'not a png' >"$WORK/bad/train/square/broken.png"
expect_error "bad/train/square/broken.png: not a decodable image" "$T" --config "$CFG" --data-dir "$WORK/bad" --out-dir "$WORK/r3"
[ ! -e "$WORK/r3/checkpoints" ] || fail "a run refused for bad data left checkpoints"
"$T" --config "$CFG" --data-dir "$WORK/bad" --out-dir "$WORK/r4" --on-bad-image skip --epochs 1 2>"$WORK/log" \
  || { cat "$WORK/log"; fail "--on-bad-image skip"; }
grep -q "skipped 1 image file" "$WORK/log" || fail "the skip was not logged"
grep -q "^train/square/broken.png: not a decodable image" "$WORK/r4/skipped_files.txt" || fail "skipped_files.txt"
# A flat folder has no classes: an unconditional model trains, a conditional one is refused.
mkdir "$WORK/flat" && cp "$WORK"/shapes/train/circle/00*.png "$WORK"/shapes/train/square/00*.png "$WORK/flat/" 2>/dev/null || true
for f in "$WORK"/shapes/train/square/00*.png; do cp "$f" "$WORK/flat/sq-$(basename "$f")"; done
"$T" --config "$CFG" --data-dir "$WORK/flat" --out-dir "$WORK/r5" --epochs 1 2>"$WORK/log" && fail "conditional on a flat folder trained"
grep -q "needs labels" "$WORK/log" || { cat "$WORK/log"; fail "no 'needs labels' error for a flat folder"; }
sed -i 's/^conditional = true/conditional = false/' "$CFG"
"$T" --config "$CFG" --data-dir "$WORK/flat" --out-dir "$WORK/r5" --epochs 1 2>"$WORK/log" || { cat "$WORK/log"; fail "flat folder"; }
echo "images: all checks passed"
