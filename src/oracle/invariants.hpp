// The invariant catalogue: stable IDs with one-line docs (`mmfuzz invariants` prints it).
#pragma once

#include <span>
#include <string_view>

namespace mmfuzz {

struct invariant_info {
    std::string_view id;
    std::string_view doc;
};

std::span<const invariant_info> invariants();
bool is_invariant(std::string_view id);

} // namespace mmfuzz
