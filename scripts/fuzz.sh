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
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(idx manifest)
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DVAE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" >/dev/null
for t in "${TARGETS[@]}"; do
  bin="$BUILD/tests/fuzz/fuzz_$t"
  regressions=(tests/fuzz/regressions/"$t"/*)
  "$bin" "${regressions[@]}" >"$BUILD/replay-$t.log" 2>&1 || { cat "$BUILD/replay-$t.log"; exit 1; }
  echo "fuzz $t: replayed $(grep -c '^Executed' "$BUILD/replay-$t.log") of ${#regressions[@]} kept inputs"
  corpus="$BUILD/corpus/$t"
  mkdir -p "$corpus"
  echo "fuzz $t: ${SECS} s"
  "$bin" -max_total_time="$SECS" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$BUILD/crash-$t-" "$corpus" tests/fuzz/regressions/"$t" 2>&1 | tail -2
done
