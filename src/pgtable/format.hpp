// Formatting of values for reports and traces. Only called where text is wanted (a violation,
// a trace line), never on a check's passing path.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace mmfuzz {

/// "0x1f": addresses, PFNs and entry values the way kernel messages print them.
inline std::string hex(std::uint64_t v) {
    char buf[2 + 16 + 1];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

} // namespace mmfuzz
