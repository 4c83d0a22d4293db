#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in BUILD_DIR, replays the
# kept regression inputs, then fuzzes each target for SECONDS.
#
#   bash scripts/fuzz.sh [SECONDS] [BUILD_DIR] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
BUILD=${2:-build-fuzz}
shift $(( $# > 2 ? 2 : $# ))
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(idx manifest npy amat image_cache checkpoint)
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DVAE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" >/dev/null
for t in "${TARGETS[@]}"; do
  bin="$BUILD/tests/fuzz/fuzz_$t"
  regressions=(tests/fuzz/regressions/"$t"/*)
  # LibTorch's reader leaks a few bytes on some of its own error paths
  # (LeakSanitizer shows them inside libtorch_cpu): not ours to fix, so leak
  # checks are off for the checkpoint target; ASan and UBSan stay on.
  leaks=1
  [ "$t" = checkpoint ] && leaks=0
  export ASAN_OPTIONS="detect_leaks=$leaks"
  "$bin" "${regressions[@]}" >"$BUILD/replay-$t.log" 2>&1 || { cat "$BUILD/replay-$t.log"; exit 1; }
  echo "fuzz $t: replayed $(grep -c '^Executed' "$BUILD/replay-$t.log") of ${#regressions[@]} kept inputs"
  corpus="$BUILD/corpus/$t"
  mkdir -p "$corpus"
  echo "fuzz $t: ${SECS} s"
  extra=(-max_len=8192)
  [ "$t" = checkpoint ] && extra=(-max_len=65536 -detect_leaks=0)  # its seeds are real (small) checkpoints
  "$bin" -max_total_time="$SECS" "${extra[@]}" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$BUILD/crash-$t-" "$corpus" tests/fuzz/regressions/"$t" 2>&1 | tail -2
done
