// Random ops and programs, shared by the libFuzzer mutator, the RapidCheck generators and the
// random drivers of the benchmark. Values lean small: nearby pages, small folios, short
// batches are where contiguous-block behaviour lives (uniform_program is the exception).
#pragma once

#include "program/op.hpp"

#include <cstdint>
#include <functional>

namespace mmfuzz {

/// A source of random numbers: returns a value in [0, bound).
using rand_fn = std::function<std::uint64_t(std::uint64_t bound)>;

/// One field value for `f` of `d` under header `h`.
std::uint64_t random_field(const rand_fn &rnd, const program_header &h, const op_desc &d,
                           const field_desc &f);
op random_op(const rand_fn &rnd, const program_header &h);
/// A program that starts with a few folio allocations, then `nr_ops` random ops.
program random_program(const rand_fn &rnd, const program_header &h, std::size_t nr_ops);
/// `nr_ops` ops with no bias at all: every kind equally likely, every field uniform over what
/// its binary encoding can hold (the legalizer then folds it into range). The blind baseline
/// the benchmark measures the other drivers against.
program uniform_program(const rand_fn &rnd, const program_header &h, std::size_t nr_ops);
/// rand_fn over a 64-bit seed (splitmix64).
rand_fn seeded_rand(std::uint64_t seed);

} // namespace mmfuzz
