#!/usr/bin/env bash
# Source-based coverage of a corpus: builds the coverage preset, replays every input through
# 'mmfuzz replay' (text reproducers, binary corpus files and crash files alike), merges the
# profiles with llvm-profdata and writes an llvm-cov summary and an HTML report.
#
# usage: scripts/coverage.sh [--out DIR] [--force] [--build-dir DIR] [CORPUS...]
#   CORPUS       folders (searched recursively) or files to replay (default: corpus/seeds)
#   --out DIR    report folder (default: coverage-out). An existing non-empty folder is not
#                touched unless --force is given; --force replaces only what this script writes
#                there (summary.txt, layers.txt, inputs.txt, replay.log, coverage.profdata, html/).
#   --build-dir  coverage build folder (default: build/coverage, the preset's)
# Output: DIR/summary.txt (llvm-cov report per file of src/), DIR/layers.txt (line, branch,
# function and region coverage per layer), DIR/html/index.html, DIR/replay.log (verdicts),
# DIR/inputs.txt (the files replayed).
# Inputs replay as 'mmfuzz replay' runs them: whole, with the granule of their header, and with
# the findings of corpus/known-findings.txt passed over as in a campaign. Text that does not
# parse is not run (the fuzzer would decode it as binary); replay.log names it.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

out=coverage-out
force=0
build=build/coverage
corpus=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --force) force=1; shift ;;
    --build-dir) build="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "coverage: unknown option '$1'" >&2; exit 2 ;;
    *) corpus+=("$1"); shift ;;
  esac
done
[ ${#corpus[@]} -gt 0 ] || corpus=(corpus/seeds)
for c in "${corpus[@]}"; do
  [ -e "$c" ] || { echo "coverage: no such corpus: $c" >&2; exit 2; }
done

ours=(summary.txt layers.txt inputs.txt replay.log coverage.profdata profraw html)
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ]; then
  if [ "$force" != 1 ]; then
    echo "coverage: $out exists and is not empty; pass --force to replace the report in it" >&2
    exit 2
  fi
  for f in "${ours[@]}"; do rm -rf "${out:?}/$f"; done
fi
mkdir -p "$out/profraw"
out="$(cd "$out" && pwd)"

bash scripts/install-deps.sh --coverage
profdata=llvm-profdata-14
cov=llvm-cov-14
for tool in "$profdata" "$cov"; do
  command -v "$tool" >/dev/null || { echo "coverage: $tool not found (package llvm-14)" >&2; exit 2; }
done

if [ "$build" = build/coverage ]; then
  cmake --preset coverage >/dev/null
else
  cmake --preset coverage -B "$build" >/dev/null
fi
cmake --build "$build" --target mmfuzz
bin="$build/mmfuzz"

# Every input file, in a stable order.
list="$out/inputs.txt"
for c in "${corpus[@]}"; do
  if [ -d "$c" ]; then find "$c" -type f; else printf '%s\n' "$c"; fi
done | LC_ALL=C sort >"$list"
n="$(wc -l <"$list")"
[ "$n" -gt 0 ] || { echo "coverage: no input files in ${corpus[*]}" >&2; exit 2; }
echo "coverage: replaying $n input(s) from ${corpus[*]}"

# One profile per replay process; a violation (exit 1) or a bad input (exit 2) still writes it.
known=()
[ -f corpus/known-findings.txt ] && known=(--known corpus/known-findings.txt)
LLVM_PROFILE_FILE="$out/profraw/replay-%p.profraw" \
  xargs -d '\n' -n 200 "$bin" replay --quiet "${known[@]}" <"$list" >"$out/replay.log" 2>&1 || true
passed="$(grep -a -c ': pass' "$out/replay.log" || true)"
violations="$(grep -a -c ': VIOLATION ' "$out/replay.log" || true)"
echo "coverage: $passed passed, $violations violation(s), $((n - passed - violations)) not run (bad input); verdicts in $out/replay.log"

"$profdata" merge -sparse "$out"/profraw/*.profraw -o "$out/coverage.profdata"
rm -rf "$out/profraw"

report=("$cov" report "$bin" -instr-profile="$out/coverage.profdata")
"${report[@]}" "$root/src" >"$out/summary.txt"
{
  printf '%-14s %18s %18s %18s %18s\n' layer lines branches functions regions
  for layer in "$root"/src/*/; do
    layer="${layer%/}"
    # TOTAL row: regions, missed, cover, functions, missed, executed, lines, missed, cover,
    # branches, missed, cover.
    "${report[@]}" "$layer" | awk -v name="src/${layer##*/}" '$1 == "TOTAL" {
        printf "%-14s %8s of %6s %8s of %6s %8s of %6s %8s of %6s\n",
               name, $10, $8, $13, $11, $7, $5, $4, $2 }'
  done
} >"$out/layers.txt"
"$cov" show "$bin" -instr-profile="$out/coverage.profdata" -format=html -output-dir="$out/html" \
  -show-branches=count -show-line-counts-or-regions -project-title=mmfuzz "$root/src" >/dev/null

cat "$out/layers.txt"
echo "coverage: report in $out/html/index.html, per-file summary in $out/summary.txt"
