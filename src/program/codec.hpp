// The two encodings of a program: a stable binary form (libFuzzer inputs) where every byte
// string decodes, and a readable text form (reproducers) whose parse errors name file, line and
// column. print -> parse is the identity, and so is decode -> encode -> decode.
#pragma once

#include "program/op.hpp"

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mmfuzz {

// ---- binary ---------------------------------------------------------------------------------
// Header: 4 bytes (version, granule, window-1, option bits). Then per op: its tag, then each
// field of its schema little-endian in its width. Unknown tags are skipped one byte at a time;
// a truncated last op is dropped. Enum-typed fields are reduced into range on decode.
constexpr std::size_t binary_header_size = 4;
/// Where the granule is in the header.
constexpr std::size_t granule_byte = 1;
std::vector<std::uint8_t> encode_binary(const program &p);
program decode_binary(std::span<const std::uint8_t> bytes);
/// Decodes one op at `pos` (advanced past it); false when the bytes end first.
bool decode_op(std::span<const std::uint8_t> bytes, std::size_t &pos, op &out);
void encode_op(const op &o, std::vector<std::uint8_t> &out);
/// Reduce a field value into its type's range (enum modulo, boolean, flag mask, width).
std::uint64_t normalize_field(const op_desc &d, const field_desc &f, std::uint64_t v);

// ---- text -----------------------------------------------------------------------------------
class parse_error : public std::runtime_error {
  public:
    parse_error(std::string file, unsigned line, unsigned column, const std::string &message);
    std::string file;
    unsigned line;
    unsigned column;
    std::string message;
};

std::string print_text(const program &p);
std::string print_header(const program_header &h);
std::string print_op(const program_header &h, const op &o);
program parse_text(std::string_view text, std::string_view file = "<input>");

/// Whether bytes look like a text reproducer (start with the header word, after comments).
bool looks_like_text(std::span<const std::uint8_t> bytes);
/// A fuzzer input: a text reproducer (seeds are kept as text), as far as its lines parse after
/// the header line, else binary.
program decode_any(std::span<const std::uint8_t> bytes);

/// mm_diff_fuzzer runs at most this many ops of an input: a violation needs few, and exec/s
/// matters more.
constexpr std::size_t fuzzer_max_ops = 64;
/// An input as mm_diff_fuzzer runs it: decode_any(), cut to fuzzer_max_ops. A byte-mutated
/// text seed whose damaged lines load_program() rejects still reads here as the fuzzer ran it.
program decode_fuzzer_input(std::span<const std::uint8_t> bytes);

} // namespace mmfuzz
