// Structure-aware mutation and crossover of binary programs (libFuzzer's custom mutator hooks
// call these): ops are inserted, deleted, duplicated, swapped, spliced, or one field tweaked
// within its range; raw byte mutation remains as a fallback.
#pragma once

#include "program/op.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace mmfuzz {

/// libFuzzer's LLVMFuzzerMutate(data, size, max_size).
using byte_mutator = std::function<std::size_t(std::uint8_t *, std::size_t, std::size_t)>;

/// One mutation of the program in data. `seeds` are the hand-written seed programs: one
/// mutation in eight (when not replaced by a fresh random program) starts from one of them
/// instead of the input. libFuzzer's schedule without entropic picks an input with a weight
/// that grows with its place in the corpus, so once the corpus holds a few thousand inputs the
/// seeds, first in it, are all but never mutated again, and a bug one edit away from a seed is
/// found in the first seconds or not at all (BENCHMARKS.md, "Fuzzer settings").
std::size_t mutate_program(std::uint8_t *data, std::size_t size, std::size_t max_size,
                           unsigned seed, const byte_mutator &fallback,
                           std::span<const program> seeds = {});
/// Ops of the first input up to a cut, then ops of the second from a cut (header of the first).
std::size_t crossover_programs(const std::uint8_t *data1, std::size_t size1,
                               const std::uint8_t *data2, std::size_t size2, std::uint8_t *out,
                               std::size_t max_out, unsigned seed);

} // namespace mmfuzz
