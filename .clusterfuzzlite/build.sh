#!/bin/bash -eu
# Builds the mmfuzz fuzz targets for ClusterFuzzLite and OSS-Fuzz.
#
# Runs inside the OSS-Fuzz base-builder with the source in $SRC/mmfuzz (the Dockerfile's
# WORKDIR), or on a plain Debian machine through scripts/check-oss-fuzz-build.sh. Every compile
# uses $CXX $CXXFLAGS (the sanitizer and -fsanitize=fuzzer-no-link flags come from there); every
# fuzz target is linked with $LIB_FUZZING_ENGINE. Output in $OUT:
#   <target>                  mm_diff_fuzzer, mm_diff_fuzzer_bytes, mm_codec_fuzzer
#   <target>_seed_corpus.zip  corpus/seeds, each file named by the SHA-1 of its content
#   <target>.dict             corpus/mm_diff_fuzzer.dict
#   <target>.options          corpus/<target>.options (dict = pointing at <target>.dict)
#   known-findings.txt        read by the differential targets from beside their binary when
#                             MMFUZZ_KNOWN is unset
#
# This compiles the sources directly rather than through CMake: the default base-builder is
# Ubuntu 20.04, whose cmake (3.16) is older than the project's minimum (3.25), and its clang is
# much newer than the one the CMake build's -Werror is tuned for. The sources are the same: every
# src/ layer except the CLI (src/cli), as CMakeLists.txt builds them.
# Objects go to $WORK/mmfuzz; nothing is written to the source tree.

# The checkout: beside this script when it runs from .clusterfuzzlite/, else $SRC/mmfuzz (the
# Dockerfile copies the script to $SRC/build.sh).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -f "$here/../fuzz/mm_diff_fuzzer.cpp" ]; then
  root="$(cd "$here/.." && pwd)"
else
  root="$(cd "${SRC:?SRC must name the source folder}/mmfuzz" && pwd)"
fi
: "${CC:=clang}" "${CXX:=clang++}" "${CFLAGS:=}" "${CXXFLAGS:=}"
: "${OUT:?OUT must name the output folder}" "${WORK:?WORK must name a scratch folder}"
: "${LIB_FUZZING_ENGINE:?LIB_FUZZING_ENGINE must give the link flags of the fuzzing engine}"
jobs="${MMFUZZ_JOBS:-$(nproc)}"

obj="$WORK/mmfuzz"
rm -rf "$obj"
mkdir -p "$obj/lib" "$OUT"
read -r -a cxx <<<"$CXX"
read -r -a cxxflags <<<"$CXXFLAGS"
flags=("${cxxflags[@]}" -std=c++20 -I"$root/src")
# libFuzzer builds leave the oracle uninstrumented and the models' compares untraced, as the
# CMake fuzz preset does.
model_flags=()
if [[ " ${cxxflags[*]} " == *fuzzer-no-link* ]]; then
  flags+=(-fsanitize-coverage-ignorelist="$root/fuzz/coverage-ignorelist.txt")
  model_flags=(-fno-sanitize-coverage=trace-cmp)
fi

# The model: every layer below the drivers, one object per source.
mapfile -t sources < <(cd "$root" && find src -name '*.cpp' -not -path 'src/cli/*' | LC_ALL=C sort)
if [ ${#sources[@]} -eq 0 ]; then
  echo "build.sh: no sources under $root/src" >&2
  exit 1
fi
compile() {
  echo "  CXX $1"
  local extra=()
  case "$1" in src/machine/* | src/arch/* | src/core/*) extra=("${model_flags[@]}") ;; esac
  "${cxx[@]}" "${flags[@]}" "${extra[@]}" -c "$root/$1" -o "$obj/lib/${1//\//_}.o"
}
for s in "${sources[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  compile "$s" &
done
for p in $(jobs -p); do wait "$p"; done
ar rcs "$obj/libmmfuzz.a" "$obj"/lib/*.o

read -r -a engine <<<"$LIB_FUZZING_ENGINE"
# ASan's defaults of the fuzz targets (fuzz/sanitizer_defaults.cpp), linked into each.
"${cxx[@]}" "${flags[@]}" -c "$root/fuzz/sanitizer_defaults.cpp" -o "$obj/sanitizer_defaults.o"
# target, source, extra defines
targets=(
  "mm_diff_fuzzer fuzz/mm_diff_fuzzer.cpp"
  "mm_diff_fuzzer_bytes fuzz/mm_diff_fuzzer.cpp -DMMFUZZ_BYTE_MUTATION_ONLY=1"
  "mm_codec_fuzzer fuzz/mm_codec_fuzzer.cpp"
)
for t in "${targets[@]}"; do
  read -r -a spec <<<"$t"
  name="${spec[0]}"
  echo "  LINK $name"
  "${cxx[@]}" "${flags[@]}" "${spec[@]:2}" -c "$root/${spec[1]}" -o "$obj/$name.o"
  "${cxx[@]}" "${cxxflags[@]}" "$obj/$name.o" "$obj/sanitizer_defaults.o" -o "$OUT/$name" \
    "${engine[@]}" "$obj/libmmfuzz.a"
done

# Seed corpus: the text programs of corpus/seeds (the targets read text and binary inputs), each
# stored under the SHA-1 of its content as libFuzzer names corpus files.
seeds="$obj/seeds"
mkdir -p "$seeds"
for f in "$root"/corpus/seeds/*; do
  [ -f "$f" ] || continue
  sum="$(sha1sum "$f" | cut -d' ' -f1)"
  cp "$f" "$seeds/$sum"
done
zip -q -j -X "$obj/seed_corpus.zip" "$seeds"/*

for t in "${targets[@]}"; do
  name="${t%% *}"
  cp "$obj/seed_corpus.zip" "$OUT/${name}_seed_corpus.zip"
  cp "$root/corpus/mm_diff_fuzzer.dict" "$OUT/$name.dict"
  options="$root/corpus/$name.options"
  [ -f "$options" ] || options="$root/corpus/mm_diff_fuzzer.options"
  # Point the dict entry (if any) at this target's copy; add one if the options have none.
  sed "s/^dict *=.*/dict = $name.dict/" "$options" >"$OUT/$name.options"
  grep -q '^dict *=' "$OUT/$name.options" || echo "dict = $name.dict" >>"$OUT/$name.options"
done
cp "$root/corpus/known-findings.txt" "$OUT/known-findings.txt"
echo "build.sh: ${#targets[@]} fuzz targets in $OUT"
