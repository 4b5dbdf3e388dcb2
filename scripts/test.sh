#!/usr/bin/env bash
# Installs what is missing, builds the dev preset (ASan+UBSan) and runs the whole test suite
# (labels unit, props, compile-fail, regression), then builds the fuzz preset and runs the
# fuzz-smoke tests.
#   MMFUZZ_PRESET=dev-alias  run the suite with alias handles instead
#   MMFUZZ_SKIP_FUZZ=1       skip the fuzz preset
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${MMFUZZ_PRESET:-dev}"
bash scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset"
if [ "${MMFUZZ_SKIP_FUZZ:-0}" != 1 ]; then
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz
  ctest --preset fuzz -L fuzz-smoke
fi
