#!/usr/bin/env bash
# Checks .clusterfuzzlite/build.sh without Docker: sets the environment the OSS-Fuzz base-builder
# sets for libFuzzer + ASan (or UBSan), runs build.sh with SRC, WORK and OUT in a temporary
# folder, checks what it left in $OUT (fuzz targets, <target>_seed_corpus.zip with SHA-1 names,
# <target>.dict, <target>.options, known-findings.txt), and runs each fuzz target for a few
# seconds on its unzipped seed corpus with the flags of its .options file. Fails if anything is
# missing or any target crashes.
#
#   --seconds N     how long each target fuzzes (default 10)
#   --sanitizer S   address (default) or undefined
#   --libc++        compile against libc++ (-stdlib=libc++), as the OSS-Fuzz builder does; without
#                   it Debian's libstdc++ is used
#   --keep          keep the temporary folder and print its path
# Needs clang, libclang-rt-14-dev (libFuzzer), zip and unzip, and for --libc++ libc++-14-dev and
# libc++abi-14-dev: scripts/install-deps.sh [--libc++].
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

seconds=10
sanitizer=address
keep=0
libcxx=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --sanitizer) sanitizer="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --libc++) libcxx=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "check-oss-fuzz-build: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

if [ "$libcxx" = 1 ]; then bash scripts/install-deps.sh --libc++; else bash scripts/install-deps.sh; fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/mmfuzz-oss-fuzz.XXXXXX")"
if [ "$keep" = 1 ]; then
  trap 'echo "kept $tmp"' EXIT
else
  trap 'rm -rf "$tmp"' EXIT
fi
fail() {
  echo "check-oss-fuzz-build: FAIL: $*" >&2
  exit 1
}

# The builder's environment (infra/base-images/base-builder: SANITIZER_FLAGS_*, COVERAGE_FLAGS,
# CFLAGS = sanitizer + coverage flags + -O1 -fno-omit-frame-pointer -gline-tables-only).
case "$sanitizer" in
  address) sanflags="-fsanitize=address -fsanitize-address-use-after-scope" ;;
  undefined)
    checks="array-bounds,bool,builtin,enum,float-divide-by-zero,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unsigned-integer-overflow,unreachable,vla-bound,vptr"
    sanflags="-fsanitize=$checks -fno-sanitize-recover=${checks/unsigned-integer-overflow,/}"
    export UBSAN_OPTIONS="silence_unsigned_overflow=1:print_stacktrace=1"
    ;;
  *) echo "check-oss-fuzz-build: --sanitizer: expected address or undefined" >&2; exit 2 ;;
esac
export SRC="$tmp/src" WORK="$tmp/work" OUT="$tmp/out"
export CC=clang CXX=clang++ SANITIZER="$sanitizer" FUZZING_ENGINE=libfuzzer
export ARCHITECTURE=x86_64 FUZZING_LANGUAGE=c++
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only $sanflags -fsanitize=fuzzer-no-link"
export CXXFLAGS="$CFLAGS"
[ "$libcxx" = 0 ] || CXXFLAGS="$CFLAGS -stdlib=libc++"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
# The builder's libFuzzer carries its own C++ library; Debian's needs libstdc++, which clang
# would turn into libc++ if it were named -lstdc++.
[ "$libcxx" = 0 ] || LIB_FUZZING_ENGINE="-fsanitize=fuzzer -l:libstdc++.so.6"
mkdir -p "$SRC" "$WORK" "$OUT"
# $SRC/mmfuzz is the checkout (the Dockerfile copies it there), $SRC/build.sh the build script.
ln -s "$root" "$SRC/mmfuzz"
cp .clusterfuzzlite/build.sh "$SRC/build.sh"

# build.sh must link through $LIB_FUZZING_ENGINE only.
if grep -v '^ *#' .clusterfuzzlite/build.sh | grep -q -- '-fsanitize=fuzzer'; then
  fail "build.sh names -fsanitize=fuzzer itself; link with \$LIB_FUZZING_ENGINE"
fi

echo "== build.sh (SANITIZER=$sanitizer, CXXFLAGS=$CXXFLAGS, OUT=$OUT)"
t0=$SECONDS
(cd "$SRC/mmfuzz" && bash -eu "$SRC/build.sh") || fail "build.sh failed"
echo "   built in $((SECONDS - t0)) s"

echo "== contents of \$OUT"
targets=()
for f in "$OUT"/*; do
  if [ -f "$f" ] && [ -x "$f" ] && [[ "$(basename "$f")" != *.* ]]; then
    targets+=("$(basename "$f")")
  fi
done
expected=(mm_codec_fuzzer mm_diff_fuzzer mm_diff_fuzzer_bytes)
[ "${targets[*]}" = "${expected[*]}" ] || fail "fuzz targets in \$OUT: '${targets[*]}', expected '${expected[*]}'"
[ -f "$OUT/known-findings.txt" ] || fail "no known-findings.txt in \$OUT"
for t in "${targets[@]}"; do
  zip="$OUT/${t}_seed_corpus.zip"
  [ -f "$zip" ] || fail "no ${t}_seed_corpus.zip"
  [ -f "$OUT/$t.dict" ] || fail "no $t.dict"
  [ -f "$OUT/$t.options" ] || fail "no $t.options"
  grep -q '^\[libfuzzer\]' "$OUT/$t.options" || fail "$t.options has no [libfuzzer] section"
  n=0
  while IFS= read -r name; do
    sum="$(unzip -p "$zip" "$name" | sha1sum | cut -d' ' -f1)"
    [ "$name" = "$sum" ] || fail "$t seed '$name' is not named by its SHA-1 ($sum)"
    n=$((n + 1))
  done < <(unzip -Z1 "$zip")
  [ "$n" -gt 0 ] || fail "${t}_seed_corpus.zip is empty"
  echo "   $t: binary, $n seeds (SHA-1 names), $t.dict, $t.options"
done

echo "== known findings beside the binary"
# A regression that expects a violation listed in known-findings.txt passes when the target reads
# the file from beside its binary, and fails when MMFUZZ_KNOWN= turns the list off.
mapfile -t known_ids < <(sed 's/#.*//' "$OUT/known-findings.txt" | awk 'NF >= 2 {print $1}' | sort -u)
checked=0
for f in corpus/regressions/*; do
  [ -f "$f" ] || continue
  grep -q '^# inject:' "$f" && continue
  expect="$(sed -n 's/^# expect: *\([A-Z_]*\).*/\1/p' "$f" | head -n1)"
  [ -n "$expect" ] && [ "$expect" != pass ] || continue
  printf '%s\n' "${known_ids[@]}" | grep -qx "$expect" || continue
  (cd "$OUT" && env -u MMFUZZ_KNOWN ./mm_diff_fuzzer -runs=1 "$root/$f" >"$tmp/known.log" 2>&1) ||
    { tail -n 30 "$tmp/known.log"; fail "$f ($expect) is reported although known-findings.txt lists it"; }
  if (cd "$OUT" && MMFUZZ_KNOWN= ./mm_diff_fuzzer -runs=1 "$root/$f" >"$tmp/known.log" 2>&1); then
    fail "$f does not reach $expect with MMFUZZ_KNOWN= (the known-findings check proves nothing)"
  fi
  echo "   $f: $expect passed over by default, reported with MMFUZZ_KNOWN="
  checked=$((checked + 1))
done
[ "$checked" -gt 0 ] || echo "   (no regression expects a known finding; nothing to check)"

echo "== fuzzing each target for $seconds s on its seed corpus"
status=0
for t in "${targets[@]}"; do
  corpus="$tmp/corpus/$t"
  mkdir -p "$corpus" "$tmp/artifacts"
  unzip -q "$OUT/${t}_seed_corpus.zip" -d "$corpus"
  # The [libfuzzer] section of the options file, as ClusterFuzz passes it: -key=value.
  opts=()
  while IFS= read -r line; do
    line="${line%%#*}"
    [[ "$line" =~ ^[[:space:]]*([A-Za-z_]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] || continue
    opts+=("-${BASH_REMATCH[1]}=${BASH_REMATCH[2]}")
  done < <(sed -n '/^\[libfuzzer\]/,/^\[/p' "$OUT/$t.options")
  log="$tmp/$t.log"
  if (cd "$OUT" && env -u MMFUZZ_KNOWN "./$t" "${opts[@]}" -max_total_time="$seconds" -seed=1 \
        -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
        -artifact_prefix="$tmp/artifacts/$t-" "$corpus" >"$log" 2>&1); then
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n1)"
    echo "   $t: ok (${opts[*]}; ${execs:-?} execs, ${cov:-cov: ?})"
  else
    echo "   $t: CRASHED; the end of its log:"
    tail -n 40 "$log" | sed 's/^/     /'
    status=1
  fi
done
[ "$status" = 0 ] || fail "a fuzz target crashed"
echo "check-oss-fuzz-build: OK"
