#!/usr/bin/env bash
# The main job: install what is missing, build, and run the differential checks on the default
# configuration (reference vs arm64 contpte, 4K granule).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev
ctest --preset dev -L unit
