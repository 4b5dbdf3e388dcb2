#include "arch/canary.hpp"

#include <array>

namespace mmfuzz {

namespace {
/// The canaries this build implements; each has a regression reproducer in corpus/regressions.
constexpr std::array<canary_info, 0> catalogue = {};
} // namespace

std::span<const canary_info> canaries() {
    return catalogue;
}

std::optional<canary> canary_from_name(std::string_view name) {
    for (const canary_info &c : catalogue)
        if (c.name == name)
            return c.id;
    return std::nullopt;
}

} // namespace mmfuzz
