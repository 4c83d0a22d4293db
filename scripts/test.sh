#!/usr/bin/env bash
# Set up, build, and run the whole test suite through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/prepare-data.sh
ctest --test-dir build --output-on-failure --no-tests=error -j2
