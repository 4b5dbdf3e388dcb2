// Formatting helpers for violation details. Only called on the violating path.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

namespace mmfuzz::detail {

inline std::string hex(std::uint64_t v) {
    std::ostringstream s;
    s << "0x" << std::hex << v;
    return s.str();
}

} // namespace mmfuzz::detail
