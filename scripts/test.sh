#!/usr/bin/env bash
# Installs what is missing, builds the dev preset (ASan+UBSan) and runs the whole test suite.
# MMFUZZ_PRESET=dev-alias runs the same suite with alias handles.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${MMFUZZ_PRESET:-dev}"
bash scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset"
