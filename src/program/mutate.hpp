// Structure-aware mutation and crossover of binary programs (libFuzzer's custom mutator hooks
// call these): ops are inserted, deleted, duplicated, swapped, spliced, or one field tweaked
// within its range; raw byte mutation remains as a fallback.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace mmfuzz {

/// libFuzzer's LLVMFuzzerMutate(data, size, max_size).
using byte_mutator = std::function<std::size_t(std::uint8_t *, std::size_t, std::size_t)>;

std::size_t mutate_program(std::uint8_t *data, std::size_t size, std::size_t max_size,
                           unsigned seed, const byte_mutator &fallback);
/// Ops of the first input up to a cut, then ops of the second from a cut (header of the first).
std::size_t crossover_programs(const std::uint8_t *data1, std::size_t size1,
                               const std::uint8_t *data2, std::size_t size2, std::uint8_t *out,
                               std::size_t max_out, unsigned seed);

} // namespace mmfuzz
