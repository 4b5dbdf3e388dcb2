# Fails if a seed is longer than the fuzz target's max_len: libFuzzer cuts such an input when it
# loads it, and the ops past the cut never run from the seed.
# cmake -DSEEDS=<dir> -DOPTIONS=<mm_diff_fuzzer.options> -P seeds_fit.cmake
file(STRINGS ${OPTIONS} max_len REGEX "^max_len *=")
string(REGEX REPLACE "^max_len *= *([0-9]+).*" "\\1" max_len "${max_len}")
file(GLOB seeds ${SEEDS}/*)
set(failed "")
foreach(seed IN LISTS seeds)
  file(SIZE ${seed} size)
  if(size GREATER max_len)
    string(APPEND failed "\n  ${seed}: ${size} bytes")
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "seeds longer than max_len = ${max_len} of ${OPTIONS}:${failed}")
endif()
