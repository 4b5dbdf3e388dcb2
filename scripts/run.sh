#!/usr/bin/env bash
# The main job: install what is missing, build the fuzz preset, and run a 60-second differential
# fuzzing campaign on the default configuration (reference vs arm64 contpte, 4K granule).
# Arguments are passed to 'mmfuzz campaign' (e.g. --time 600 --jobs 2 --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--time 60 --out campaign-out)
exec build/fuzz/mmfuzz campaign "${args[@]}"
